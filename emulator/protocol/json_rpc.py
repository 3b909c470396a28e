"""AWS JSON 1.0/1.1 protocols: POST / with X-Amz-Target `Prefix.Operation` and a JSON body.

Handlers are plain functions `dict -> dict` run in a worker thread (they may touch SQLite or disk), or
coroutine functions awaited on the event loop (for calls that wait, e.g. SQS long polling).

Before a handler runs, the body is read up to the service's limit and decoded, and (given the service's
`RequestShapes`) its members are checked against the operation's input shape, so a handler only sees
a JSON object whose members have the declared types.
"""

from __future__ import annotations

import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol import json_codec
from emulator.protocol.body import BodyLimit, read_body
from emulator.protocol.errors import AwsError, internal_failure, too_deep
from emulator.protocol.shapes import RequestShapes

log = logging.getLogger(__name__)

_MAX_DECODED_BYTES = 16 * 1024 * 1024  # far above any JSON body AWS takes; a gzip bomb stops here


def decoded_body(content_encoding: str, raw: bytes) -> bytes:
    """The body with its Content-Encoding undone: botocore gzips the bodies of operations whose model
    allows request compression (CloudWatch's PutMetricData) once they pass 10 KiB."""
    if "gzip" not in (part.strip().lower() for part in content_encoding.split(",")):
        return raw
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, _MAX_DECODED_BYTES)
    except zlib.error as exc:
        raise AwsError("SerializationException", f"request body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise AwsError("SerializationException", "request body inflates past 16 MiB")
    if not inflater.eof:
        raise AwsError("SerializationException", "request body is truncated gzip")
    return body


JsonHandler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]

MIB = 1024 * 1024


def request_entity_too_large(limit: int) -> Callable[[int], AwsError]:
    """The refusal of a body over `limit` bytes where the service documents no error of its own."""
    return lambda size: AwsError(
        "RequestEntityTooLargeException",
        f"Request body of {size} bytes exceeds the maximum of {limit} bytes for this service",
        413,
    )


DEFAULT_LIMIT = BodyLimit(10 * MIB, request_entity_too_large(10 * MIB))


class JsonDispatcher:
    def __init__(
        self,
        target_prefix: str,
        json_version: str = "1.1",
        shapes: RequestShapes | None = None,
        limit: BodyLimit = DEFAULT_LIMIT,
    ) -> None:
        self.target_prefix = target_prefix
        self.content_type = f"application/x-amz-json-{json_version}"
        self._operations: dict[str, JsonHandler] = {}
        self._shapes = shapes
        self._limit = limit

    def operation(self, name: str) -> Callable[[JsonHandler], JsonHandler]:
        def register(handler: JsonHandler) -> JsonHandler:
            self._operations[name] = handler
            return handler

        return register

    def handles(self, request: Request) -> bool:
        return request.headers.get("x-amz-target", "").startswith(self.target_prefix + ".")

    def operations(self) -> list[dict[str, Any]]:
        return [
            {"protocol": "json", "target": f"{self.target_prefix}.{name}", "content_type": self.content_type}
            for name in sorted(self._operations)
        ]

    def body_limit(self, operation: str) -> BodyLimit:
        """The body limit of one operation; services with per-operation limits override it."""
        return self._limit

    async def __call__(self, request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        operation = target.partition(".")[2]
        try:
            handler = self._operations.get(operation)
            if handler is None:
                raise AwsError("UnknownOperationException", f"operation {target[:100]!r} is not emulated")
            raw = decoded_body(
                request.headers.get("content-encoding", ""),
                await read_body(request, self.body_limit(operation)),
            )
            try:
                params = json_codec.loads(raw) if raw else {}
            except ValueError as exc:
                raise AwsError("SerializationException", f"request body is not JSON: {exc}") from None
            if self._shapes is not None:
                self._shapes.check(operation, params)
            elif not isinstance(params, dict):
                raise AwsError("SerializationException", "request body must be a JSON object")
            if inspect.iscoroutinefunction(handler):
                result = await handler(params)
            else:
                result = await run_in_threadpool(handler, params)
            return Response(json_codec.dumps(result), media_type=self.content_type)
        except AwsError as err:
            return self.error_response(err)
        except RecursionError:
            return self.error_response(too_deep())
        except Exception:  # a bug in the emulator: logged, answered as AWS answers its own faults
            log.exception("%s failed", target)
            return self.error_response(internal_failure())

    def error_response(self, err: AwsError) -> Response:
        body = {"__type": err.code, "message": err.message, **err.fields}
        return Response(
            json_codec.dumps(body),
            status_code=err.status,
            media_type=self.content_type,
            headers={"x-amzn-ErrorType": err.code},
        )
