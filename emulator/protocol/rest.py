"""REST protocols (S3's REST-XML, Lambda's and SageMaker Runtime's REST-JSON): method + path pattern ->
handler.

Each REST service supplies its own error renderer because S3 answers in XML and the rest in JSON.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol.errors import AwsError, internal_failure, too_deep

log = logging.getLogger(__name__)

RestHandler = Callable[..., Awaitable[Response]]
ErrorRenderer = Callable[[AwsError, Request], Response]

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def path_template(pattern: str) -> str:
    """`/2015-03-31/functions/(?P<name>[^/]+)/?` -> `/2015-03-31/functions/{name}`."""
    return _GROUP.sub(r"{\1}", pattern).removesuffix("/?")


class RestDispatcher:
    def __init__(self, render_error: ErrorRenderer, internal_code: str = "InternalFailure") -> None:
        self._routes: list[tuple[str, re.Pattern[str], RestHandler, str]] = []
        self._render_error = render_error
        self._internal_code = internal_code

    def route(self, method: str, pattern: str) -> Callable[[RestHandler], RestHandler]:
        """Register `handler(request, **path_params)`; `pattern` is a regex with named groups."""

        def register(handler: RestHandler) -> RestHandler:
            self._routes.append((method, re.compile(pattern + r"\Z"), handler, path_template(pattern)))
            return handler

        return register

    def match(self, request: Request) -> tuple[RestHandler, dict[str, str]] | None:
        path = request.url.path
        for method, pattern, handler, _ in self._routes:
            if method == request.method:
                found = pattern.match(path)
                if found:
                    return handler, found.groupdict()
        return None

    def handles(self, request: Request) -> bool:
        return self.match(request) is not None

    def operations(self) -> list[dict[str, Any]]:
        return [{"protocol": "rest", "method": method, "path": path} for method, _, _, path in self._routes]

    def render_error(self, err: AwsError, request: Request) -> Response:
        return self._render_error(err, request)

    async def __call__(self, request: Request) -> Response:
        found = self.match(request)
        try:
            if found is None:
                raise AwsError(
                    "MethodNotAllowed", f"{request.method} {request.url.path[:200]} is not emulated", 405
                )
            handler, params = found
            return await handler(request, **params)
        except AwsError as err:
            return self._render_error(err, request)
        except RecursionError:
            return self._render_error(too_deep(), request)
        except Exception:  # a bug in the emulator: logged, answered as AWS answers its own faults
            log.exception("%s %s failed", request.method, request.url.path)
            return self._render_error(internal_failure(self._internal_code), request)
