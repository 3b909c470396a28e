"""Pick the emulated service for a request from its SigV4 credential scope.

`Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/SERVICE/aws4_request, ...`, or for
a presigned URL the same scope in its X-Amz-Credential query parameter. Services that share a signing
name (SageMaker and SageMaker Runtime both sign as `sagemaker`) register several dispatchers: the
first that handles the request takes it, the last takes everything else.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol import presigned

_SCOPE = re.compile(r"Credential=[^/]*/[^/]*/([^/]*)/([^/]*)/aws4_request")


class Dispatcher(Protocol):
    def handles(self, request: Request) -> bool: ...

    def operations(self) -> list[dict[str, Any]]:
        """What it routes: `{"protocol": "json", "target", "content_type"}` or
        `{"protocol": "rest", "method", "path"}`."""

    def __call__(self, request: Request) -> Awaitable[Response]: ...


def credential_scope(authorization: str) -> tuple[str, str] | None:
    """(region, service) from a SigV4 Authorization header, or None if it is not SigV4."""
    match = _SCOPE.search(authorization)
    return (match.group(1), match.group(2)) if match else None


class ServiceRouter:
    """Service name (as botocore signs it) -> the dispatchers that speak that service's protocol."""

    def __init__(self) -> None:
        self._services: dict[str, tuple[Dispatcher, ...]] = {}

    def register(self, signing_name: str, *dispatchers: Dispatcher) -> None:
        if signing_name in self._services:
            raise ValueError(f"service {signing_name!r} registered twice")
        if not dispatchers:
            raise ValueError(f"service {signing_name!r} registered without a dispatcher")
        self._services[signing_name] = dispatchers

    def handler_for(self, request: Request) -> Dispatcher | None:
        scope = credential_scope(request.headers.get("authorization", "")) or presigned.credential_scope(
            request.url.query
        )
        dispatchers = self._services.get(scope[1]) if scope else None
        if not dispatchers:
            return None
        return next((d for d in dispatchers[:-1] if d.handles(request)), dispatchers[-1])

    def operations(self) -> list[dict[str, Any]]:
        """Every operation routed, each with the signing name of its service."""
        return [
            {"service": name, **operation}
            for name, dispatchers in sorted(self._services.items())
            for dispatcher in dispatchers
            for operation in dispatcher.operations()
        ]
