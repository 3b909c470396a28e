"""Read a request body no larger than the service accepts: refused from its Content-Length before any
byte is read, or as soon as a chunked body passes the limit, so an oversized request never sits in
memory whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from emulator.protocol.errors import AwsError


@dataclass(frozen=True)
class BodyLimit:
    """`max_bytes` of body; `too_large(size)` is the service's error for a body of `size` bytes."""

    max_bytes: int
    too_large: Callable[[int], AwsError]


async def read_body(request: Request, limit: BodyLimit) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise AwsError("InvalidRequest", f"Content-Length {declared[:40]!r} is not a number of bytes")
        if int(declared) > limit.max_bytes:
            raise limit.too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit.max_bytes:
            raise limit.too_large(size)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # later request.body() calls return it instead of reading a spent stream
    return body
