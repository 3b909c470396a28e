"""REST protocols (S3's REST-XML, SageMaker Runtime's REST-JSON): method + path pattern -> handler.

Each REST service supplies its own error renderer because S3 answers in XML and the rest in JSON.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol.errors import AwsError

log = logging.getLogger(__name__)

RestHandler = Callable[..., Awaitable[Response]]
ErrorRenderer = Callable[[AwsError, Request], Response]


class RestDispatcher:
    def __init__(self, render_error: ErrorRenderer) -> None:
        self._routes: list[tuple[str, re.Pattern[str], RestHandler]] = []
        self._render_error = render_error

    def route(self, method: str, pattern: str) -> Callable[[RestHandler], RestHandler]:
        """Register `handler(request, **path_params)`; `pattern` is a regex with named groups."""

        def register(handler: RestHandler) -> RestHandler:
            self._routes.append((method, re.compile(pattern + r"\Z"), handler))
            return handler

        return register

    def match(self, request: Request) -> tuple[RestHandler, dict[str, str]] | None:
        path = request.url.path
        for method, pattern, handler in self._routes:
            if method == request.method:
                found = pattern.match(path)
                if found:
                    return handler, found.groupdict()
        return None

    def handles(self, request: Request) -> bool:
        return self.match(request) is not None

    async def __call__(self, request: Request) -> Response:
        found = self.match(request)
        try:
            if found is None:
                raise AwsError(
                    "MethodNotAllowed", f"{request.method} {request.url.path} is not emulated", 405
                )
            handler, params = found
            return await handler(request, **params)
        except AwsError as err:
            return self._render_error(err, request)
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.url.path)
            return self._render_error(AwsError("InternalError", f"{type(exc).__name__}: {exc}", 500), request)
