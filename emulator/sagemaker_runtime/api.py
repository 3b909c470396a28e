"""InvokeEndpoint over REST-JSON (`POST /endpoints/{name}/invocations`): the latency-critical path.

No SQLite, no thread hops: read the in-memory fleet, pick a variant, forward over a pooled
keep-alive connection, mirror to the shadow in a background task, hand capture records to a buffer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol.errors import AwsError
from emulator.protocol.rest import RestDispatcher
from emulator.sagemaker.backend import ACCOUNT, SageMakerBackend
from emulator.sagemaker.capture import CaptureWriter, Exchange
from emulator.sagemaker.fleet import LiveEndpoint, VariantFleet
from emulator.sagemaker_runtime.metrics import InvocationMetrics
from emulator.sagemaker_runtime.upstream import UpstreamError, UpstreamPool, UpstreamResponse

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_SERVING = ("InService", "Updating")


def render_error(err: AwsError, request: Request) -> Response:
    body = {"__type": err.code, "message": err.message, "Message": err.message, **err.fields}
    return Response(
        json.dumps(body), err.status, media_type="application/json", headers={"x-amzn-ErrorType": err.code}
    )


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message)


class Invoker:
    def __init__(self, backend: SageMakerBackend, capture: CaptureWriter, metrics: InvocationMetrics) -> None:
        self._backend = backend
        self._capture = capture
        self._metrics = metrics
        self._upstream = UpstreamPool()
        self._mirrors: set[asyncio.Task] = set()  # strong refs so shadow tasks are not collected mid-flight

    async def close(self) -> None:
        if self._mirrors:
            await asyncio.wait(self._mirrors, timeout=5)
        await self._upstream.close()

    def _endpoint(self, name: str) -> LiveEndpoint:
        live = self._backend.live.get(name)
        status = self._backend.status_of(name)
        if live is None or status not in _SERVING:
            if status is None:
                raise validation_error(f"Endpoint {name} of account {ACCOUNT} not found.")
            raise validation_error(
                f"Endpoint {name} of account {ACCOUNT} is not in service (status: {status})."
            )
        return live

    async def invoke(self, request: Request, name: str) -> Response:
        started = time.perf_counter()
        # during a blue/green deployment this picks blue or green for the whole request
        endpoint = self._endpoint(name).route()
        body = await request.body()
        if len(body) > MAX_PAYLOAD_BYTES:
            raise validation_error(
                f"Request payload of {len(body)} bytes exceeds the maximum "
                f"of {MAX_PAYLOAD_BYTES} bytes (6 MB)."
            )
        headers = request.headers
        variant = self._pick(endpoint, headers.get("x-amzn-sagemaker-target-variant"))
        forward = {
            "Content-Type": headers.get("content-type", "application/octet-stream"),
            "Accept": headers.get("accept", "*/*"),
        }
        answer = await self._forward(name, variant, body, forward, started)
        if answer.status >= 400:
            kind = "client" if answer.status < 500 else "server"
            raise AwsError(
                "ModelError",
                f'Received {kind} error ({answer.status}) from {variant.name} with message "{answer.text}".',
                424,
                OriginalStatusCode=answer.status,
                OriginalMessage=answer.text,
                LogStreamArn=f"arn:aws:logs:local:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            )
        inference_id = headers.get("x-amzn-sagemaker-inference-id")
        if endpoint.capture:
            self._offer_capture(endpoint, variant, body, forward, answer, inference_id)
        if endpoint.shadow:
            task = asyncio.create_task(self._mirror(endpoint, endpoint.shadow, body, forward, inference_id))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)
        # the worker's Content-Type verbatim (media_type would append a charset to text/*)
        return Response(
            answer.body,
            headers={"Content-Type": answer.content_type, "x-Amzn-Invoked-Production-Variant": variant.name},
        )

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
        """POST to one of the variant's workers and publish the call's AWS/SageMaker metrics."""
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
        self,
        endpoint: LiveEndpoint,
        variant: VariantFleet,
        body: bytes,
        headers: dict[str, str],
        answer: UpstreamResponse,
        inference_id: str | None,
    ) -> None:
        exchange = Exchange(
            body, headers["Content-Type"], answer.body, answer.content_type, inference_id, datetime.now(UTC)
        )
        self._capture.offer(endpoint.name, variant.name, endpoint.capture, exchange)

    async def _mirror(
        self,
        endpoint: LiveEndpoint,
        shadow: VariantFleet,
        body: bytes,
        headers: dict[str, str],
        inference_id: str | None,
    ) -> None:
        """Send the shadow its copy; its answer is only ever captured, never returned."""
        try:
            answer = await self._forward(endpoint.name, shadow, body, headers, time.perf_counter())
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
            self._offer_capture(endpoint, shadow, body, headers, answer, inference_id)


def build_runtime_api(invoker: Invoker) -> RestDispatcher:
    api = RestDispatcher(render_error)
    api.route("POST", r"/endpoints/(?P<name>[^/]+)/invocations")(invoker.invoke)
    return api
