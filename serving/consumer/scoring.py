"""Micro-batched InvokeEndpoint with retries, ModelError bisection and a circuit breaker.

Rows go to the endpoint as CSV in chunks bounded by row count and body size. Transient failures
(throttling, 5xx, timeouts, connection errors) are retried with capped, jittered backoff while the
invocation has time left; a client error is never retried. A ModelError means the endpoint is up but
the model refused the chunk: the chunk is split in halves until the offending row is found, and only
that row is marked. When the endpoint cannot answer, rows come back `unavailable` with the reason and
the caller writes a flagged fallback.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_any

from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.retrying import BACKOFF

_RESERVE_S = 2.0  # time kept back for writing results, so a slow endpoint cannot time the function out
_TRANSIENT_CODES = {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalServerError"}


@dataclass(frozen=True)
class Scored:
    score: float
    model_version: str
    threshold: float
    variant: str
    invoke_ms: float
    # The request's InferenceId and the row's position in it: how data capture (production and shadow)
    # is joined back to the prediction.
    inference_id: str
    inference_row: int


@dataclass(frozen=True)
class Unscored:
    kind: str  # "unavailable" (write a fallback) or "model_error" (dead-letter the row)
    reason: str


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_CODES or (status >= 500 and code != "ModelError")
    return isinstance(error, BotoCoreError)  # timeouts and connection errors


def _is_bad_input(error: BaseException) -> bool:
    """A ModelError whose container answered 4xx: the model refused the data (a 5xx is an outage)."""
    if not isinstance(error, ClientError) or error.response.get("Error", {}).get("Code") != "ModelError":
        return False
    return 400 <= int(error.response.get("OriginalStatusCode", 500)) < 500


def csv_line(row: list[float]) -> str:
    return ",".join(map(repr, map(float, row)))


# An InferenceId only has to be unique: a random prefix per execution environment and a counter,
# instead of a uuid4 (an os.urandom call) per chunk.
_INFERENCE_PREFIX = uuid.uuid4().hex[:16]
_INFERENCE_COUNTER = itertools.count()


def _inference_id() -> str:
    return f"{_INFERENCE_PREFIX}-{next(_INFERENCE_COUNTER)}"


class EndpointScorer:
    def __init__(
        self,
        runtime,
        endpoint_name: str,
        breaker: CircuitBreaker,
        max_rows: int,
        max_bytes: int,
        attempts: int,
        time_left_s: Callable[[], float],
    ):
        self.runtime = runtime
        self.endpoint_name = endpoint_name
        self.breaker = breaker
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.attempts = attempts
        self.time_left_s = time_left_s

    def score(self, rows: list[list[float]]) -> list[Scored | Unscored]:
        results: list[Scored | Unscored] = []
        for chunk in self._chunks([csv_line(row) for row in rows]):
            results.extend(self._score_chunk(chunk))
        return results

    def _chunks(self, lines: list[str]):
        chunk: list[str] = []
        size = 0
        for line in lines:
            line_size = len(line) + 1
            if chunk and (len(chunk) >= self.max_rows or size + line_size > self.max_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append(line)
            size += line_size
        if chunk:
            yield chunk

    def _score_chunk(self, lines: list[str]) -> list[Scored | Unscored]:
        if not self.breaker.allow():
            return [Unscored("unavailable", f"circuit open for endpoint {self.endpoint_name}")] * len(lines)
        inference_id = _inference_id()
        try:
            payload, variant, elapsed_ms = self._invoke_with_retries("\n".join(lines), inference_id)
        except ClientError as error:
            if _is_bad_input(error):
                self.breaker.record_success()  # the endpoint answered; the data is the problem
                return self._bisect(lines, error)
            self.breaker.record_failure()
            return [Unscored("unavailable", _describe(error))] * len(lines)
        except BotoCoreError as error:
            self.breaker.record_failure()
            return [Unscored("unavailable", _describe(error))] * len(lines)
        self.breaker.record_success()
        predictions = payload["predictions"]
        if len(predictions) != len(lines):
            reason = f"endpoint returned {len(predictions)} scores for {len(lines)} rows"
            return [Unscored("unavailable", reason)] * len(lines)
        return [
            Scored(
                float(score),
                payload["model_version"],
                float(payload["threshold"]),
                variant,
                elapsed_ms,
                inference_id,
                row,
            )
            for row, score in enumerate(predictions)
        ]

    def _bisect(self, lines: list[str], error: ClientError) -> list[Scored | Unscored]:
        if len(lines) == 1:
            message = error.response.get("OriginalMessage") or error.response.get("Error", {}).get(
                "Message", ""
            )
            return [Unscored("model_error", f"ModelError: {message}")]
        middle = len(lines) // 2
        return self._score_chunk(lines[:middle]) + self._score_chunk(lines[middle:])

    def _invoke_with_retries(self, body: str, inference_id: str) -> tuple[dict, str, float]:
        retrying = Retrying(
            stop=stop_any(stop_after_attempt(self.attempts), lambda _: self.time_left_s() < _RESERVE_S),
            wait=BACKOFF,
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                started = time.perf_counter()
                response = self.runtime.invoke_endpoint(
                    EndpointName=self.endpoint_name,
                    ContentType="text/csv",
                    Accept="application/json",
                    Body=body,
                    InferenceId=inference_id,
                )
                payload = json.loads(response["Body"].read())
                return (
                    payload,
                    response.get("InvokedProductionVariant", ""),
                    (time.perf_counter() - started) * 1000,
                )
        raise AssertionError("unreachable: tenacity either returns or raises")


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}"[:300]
    return f"{type(error).__name__}: {error}"[:300]
