"""InvokeEndpoint's semantics, no HTTP: the latency-critical path.

No SQLite, no thread hops: read the in-memory fleet, pick a variant (TargetVariant or the weights),
forward over a pooled keep-alive connection, mirror to the shadow in a background task, hand capture
records to a buffer and count the call in the per-variant metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.protocol.errors import AwsError
from emulator.sagemaker.backend import ACCOUNT, SageMakerBackend
from emulator.sagemaker.capture import CaptureWriter, Exchange
from emulator.sagemaker.fleet import LiveEndpoint, VariantFleet
from emulator.sagemaker_runtime.metrics import InvocationMetrics
from emulator.sagemaker_runtime.upstream import UpstreamError, UpstreamPool, UpstreamResponse

log = logging.getLogger(__name__)

_SERVING = ("InService", "Updating")


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message)


@dataclass(frozen=True)
class Invocation:
    endpoint: str
    body: bytes
    content_type: str
    accept: str
    target_variant: str | None
    inference_id: str | None
    started: float  # time.perf_counter() when the request arrived: OverheadLatency counts from here


@dataclass(frozen=True)
class InvocationResult:
    variant: str
    body: bytes
    content_type: str  # the model container's, verbatim


class RuntimeBackend:
    def __init__(self, hosting: SageMakerBackend, capture: CaptureWriter, metrics: InvocationMetrics) -> None:
        self._hosting = hosting
        self._capture = capture
        self._metrics = metrics
        self._upstream = UpstreamPool()
        self._mirrors: set[asyncio.Task] = set()  # strong refs so shadow tasks are not collected mid-flight

    async def close(self) -> None:
        if self._mirrors:
            await asyncio.wait(self._mirrors, timeout=5)
        await self._upstream.close()

    def _endpoint(self, name: str) -> LiveEndpoint:
        live = self._hosting.live.get(name)
        status = self._hosting.status_of(name)
        if live is None or status not in _SERVING:
            if status is None:
                raise validation_error(f"Endpoint {name} of account {ACCOUNT} not found.")
            raise validation_error(
                f"Endpoint {name} of account {ACCOUNT} is not in service (status: {status})."
            )
        return live

    async def invoke(self, call: Invocation) -> InvocationResult:
        # during a blue/green deployment this picks blue or green for the whole request
        endpoint = self._endpoint(call.endpoint).route()
        variant = self._pick(endpoint, call.target_variant)
        headers = {"Content-Type": call.content_type, "Accept": call.accept}
        answer = await self._forward(endpoint.name, variant, call.body, headers, call.started)
        if answer.status >= 400:
            kind = "client" if answer.status < 500 else "server"
            raise AwsError(
                "ModelError",
                f'Received {kind} error ({answer.status}) from {variant.name} with message "{answer.text}".',
                424,
                OriginalStatusCode=answer.status,
                OriginalMessage=answer.text,
                LogStreamArn=f"arn:aws:logs:local:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{endpoint.name}",
            )
        if endpoint.capture:
            self._offer_capture(endpoint, variant, call, answer)
        if endpoint.shadow:
            task = asyncio.create_task(self._mirror(endpoint, endpoint.shadow, call, headers))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)
        return InvocationResult(variant.name, answer.body, answer.content_type)

    def _pick(self, endpoint: LiveEndpoint, target: str | None) -> VariantFleet:
        if target:
            variant = endpoint.production.get(target)
            if variant is None:
                raise validation_error(
                    f"TargetVariant {target!r} is not a production variant of endpoint {endpoint.name}; "
                    f"variants: {sorted(endpoint.production)}"
                )
            return variant
        variant = endpoint.choose_variant()
        if variant is None:
            raise validation_error(
                f"Every production variant of endpoint {endpoint.name} has weight 0; set TargetVariant or "
                "update the weights."
            )
        return variant

    async def _forward(
        self, endpoint: str, variant: VariantFleet, body: bytes, headers: dict[str, str], started: float
    ) -> UpstreamResponse:
        """POST to one of the variant's workers and count the call in the AWS/SageMaker metrics."""
        model_started = time.perf_counter()
        failure = None
        try:
            answer = await self._upstream.post(variant.next_port(), "/invocations", body, headers)
        except UpstreamError as exc:
            answer, failure = None, exc
        finished = time.perf_counter()
        model_us = (finished - model_started) * 1e6
        status = answer.status if answer else None
        self._metrics.record(endpoint, variant.name, status, model_us, (finished - started) * 1e6 - model_us)
        if answer is None:
            raise AwsError("ModelError", f"Variant {variant.name} did not answer: {failure}", 424)
        return answer

    def _offer_capture(
        self, endpoint: LiveEndpoint, variant: VariantFleet, call: Invocation, answer: UpstreamResponse
    ) -> None:
        exchange = Exchange(
            call.body,
            call.content_type,
            answer.body,
            answer.content_type,
            call.inference_id,
            datetime.now(UTC),
        )
        self._capture.offer(endpoint.name, variant.name, endpoint.capture, exchange)

    async def _mirror(
        self, endpoint: LiveEndpoint, shadow: VariantFleet, call: Invocation, headers: dict[str, str]
    ) -> None:
        """Send the shadow its copy; its answer is only ever captured, never returned."""
        try:
            answer = await self._forward(endpoint.name, shadow, call.body, headers, time.perf_counter())
        except AwsError as exc:
            log.warning("shadow variant %s of %s: %s", shadow.name, endpoint.name, exc.message)
            return
        if answer.status >= 400:
            log.warning(
                "shadow variant %s of %s answered %d: %s",
                shadow.name,
                endpoint.name,
                answer.status,
                answer.text,
            )
            return
        if endpoint.capture:
            self._offer_capture(endpoint, shadow, call, answer)
