"""Pick the emulated service for a request from its SigV4 credential scope.

`Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/SERVICE/aws4_request, ...`, or for
a presigned URL the same scope in its X-Amz-Credential query parameter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol import presigned

ServiceHandler = Callable[[Request], Awaitable[Response]]

_SCOPE = re.compile(r"Credential=[^/]*/[^/]*/([^/]*)/([^/]*)/aws4_request")


def credential_scope(authorization: str) -> tuple[str, str] | None:
    """(region, service) from a SigV4 Authorization header, or None if it is not SigV4."""
    match = _SCOPE.search(authorization)
    return (match.group(1), match.group(2)) if match else None


class ServiceRouter:
    """Service name (as botocore signs it) -> the handler that speaks that service's protocol."""

    def __init__(self) -> None:
        self._services: dict[str, ServiceHandler] = {}

    def register(self, signing_name: str, handler: ServiceHandler) -> None:
        if signing_name in self._services:
            raise ValueError(f"service {signing_name!r} registered twice")
        self._services[signing_name] = handler

    def handler_for(self, request: Request) -> ServiceHandler | None:
        scope = credential_scope(request.headers.get("authorization", "")) or presigned.credential_scope(
            request.url.query
        )
        return self._services.get(scope[1]) if scope else None
