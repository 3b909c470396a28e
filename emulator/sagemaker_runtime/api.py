"""InvokeEndpoint over REST-JSON (`POST /endpoints/{name}/invocations`): the request's headers and body in,
the model's answer out; the semantics are in emulator.sagemaker_runtime.backend."""

from __future__ import annotations

import json
import time

from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol.body import BodyLimit, read_body
from emulator.protocol.errors import AwsError
from emulator.protocol.rest import RestDispatcher
from emulator.sagemaker_runtime.backend import Invocation, RuntimeBackend, validation_error

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_LIMIT = BodyLimit(
    MAX_PAYLOAD_BYTES,
    lambda size: validation_error(
        f"Request payload of {size} bytes exceeds the maximum of {MAX_PAYLOAD_BYTES} bytes (6 MB)."
    ),
)


def render_error(err: AwsError, request: Request) -> Response:
    body = {"__type": err.code, "message": err.message, "Message": err.message, **err.fields}
    return Response(
        json.dumps(body), err.status, media_type="application/json", headers={"x-amzn-ErrorType": err.code}
    )


def build_runtime_api(backend: RuntimeBackend) -> RestDispatcher:
    api = RestDispatcher(render_error)

    @api.route("POST", r"/endpoints/(?P<name>[^/]+)/invocations")
    async def invoke(request: Request, name: str) -> Response:
        started = time.perf_counter()
        body = await read_body(request, _LIMIT)
        headers = request.headers
        result = await backend.invoke(
            Invocation(
                name,
                body,
                headers.get("content-type", "application/octet-stream"),
                headers.get("accept", "*/*"),
                headers.get("x-amzn-sagemaker-target-variant"),
                headers.get("x-amzn-sagemaker-inference-id"),
                started,
            )
        )
        # the worker's Content-Type verbatim (media_type would append a charset to text/*)
        return Response(
            result.body,
            headers={
                "Content-Type": result.content_type,
                "x-Amzn-Invoked-Production-Variant": result.variant,
            },
        )

    return api
