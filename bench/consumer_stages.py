"""Where one batch's time goes inside the consumer: the packaged pipeline run in this process on a
deployed stack's configuration, every AWS call timed by operation through botocore's event hooks.

`stage_profile(clients, function_name, events, batch_size, batches)` builds Lambda-shaped Kinesis
records from `events`, runs serving.consumer.pipeline.process_batch on them exactly as the handler
does (the function's own environment variables make its ConsumerConfig), and returns per-batch
milliseconds by stage: the endpoint (InvokeEndpoint), each store operation (summed over calls made
concurrently), the wall time spent in calls, and the rest (decoding, features, the consumer's own
work). No ESM, no worker process: what remains of a put → stored
latency beyond this is delivery and invocation.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np

from orchestration.stream.replay import event_payloads
from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.clients import Clients
from serving.consumer.config import ConsumerConfig
from serving.consumer.pipeline import process_batch
from serving.consumer.scoring import EndpointScorer

_SERVICES = ("sagemaker-runtime", "dynamodb", "kinesis", "sqs", "s3")


class _CallTimer:
    """Wall time per `service.Operation` of the calls made through the clients it is attached to, and
    the intervals they ran in (the pipeline makes some concurrently)."""

    def __init__(self) -> None:
        self.totals_ms: dict[str, float] = defaultdict(float)
        self.intervals: list[tuple[float, float]] = []

    def clear(self) -> None:
        self.totals_ms.clear()
        self.intervals.clear()

    def in_calls_ms(self) -> float:
        """Wall time during which at least one call was running."""
        covered, end = 0.0, float("-inf")
        for start, stop in sorted(self.intervals):
            if stop > end:
                covered += stop - max(start, end)
                end = stop
        return covered * 1000

    def attach(self, client) -> None:
        client.meta.events.register("before-call.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after)

    def _before(self, model, context, **_) -> None:
        context["bench_started"] = time.perf_counter()

    def _after(self, model, context, **_) -> None:
        started = context.get("bench_started")
        if started is not None:
            stopped = time.perf_counter()
            self.totals_ms[f"{model.service_model.service_name}.{model.name}"] += (stopped - started) * 1000
            self.intervals.append((started, stopped))


@contextmanager
def _environment(variables: dict[str, str]):
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _records(payloads: list[dict], first_sequence: int) -> list[dict]:
    now = datetime.now(tz=UTC).timestamp()
    records = []
    for offset, payload in enumerate(payloads):
        sequence = f"{first_sequence + offset:056d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": payload["customer_id"],
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(payload, default=float).encode()).decode(),
                    "approximateArrivalTimestamp": now,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/bench",
                "awsRegion": "us-east-1",
            }
        )
    return records


def stage_profile(clients, function_name: str, events, batch_size: int, batches: int) -> dict[str, float]:
    """Median milliseconds per batch of each stage (and "batch total") over `batches` batches."""
    variables = clients("lambda").get_function(FunctionName=function_name)["Configuration"]["Environment"][
        "Variables"
    ]
    with _environment(variables):
        config = ConsumerConfig.from_env()
    timer = _CallTimer()
    made = {service: clients(service) for service in _SERVICES}
    for client in made.values():
        timer.attach(client)
    consumer_clients = Clients(*(made[service] for service in _SERVICES))
    breaker = CircuitBreaker(config.circuit_failure_threshold, config.circuit_cooldown_s)
    payloads = event_payloads(events.tail(batch_size * batches))
    per_batch: dict[str, list[float]] = defaultdict(list)
    for index in range(batches):
        records = _records(
            payloads[index * batch_size : (index + 1) * batch_size], 10**40 + index * batch_size
        )
        scorer = EndpointScorer(
            consumer_clients.runtime,
            config.endpoint_name,
            breaker,
            config.max_rows_per_invoke,
            config.max_invoke_bytes,
            config.invoke_attempts,
            time_left_s=lambda: 60.0,
        )
        timer.clear()
        begin = time.perf_counter()
        process_batch(records, config, consumer_clients, scorer)
        total = (time.perf_counter() - begin) * 1000
        per_batch["batch total"].append(total)
        for stage, ms in timer.totals_ms.items():
            per_batch[stage].append(ms)
        per_batch["in AWS calls (wall)"].append(timer.in_calls_ms())
        per_batch["consumer's own work (wall, outside calls)"].append(total - timer.in_calls_ms())
    return {stage: float(np.median(values)) for stage, values in per_batch.items()}
