"""The last line: an exception nothing else caught becomes a generic 500 InternalFailure, with no
detail of the emulator's code or files in it (the traceback goes to the log)."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.protocol.errors import internal_failure

log = logging.getLogger(__name__)


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except Exception:
            log.exception("%s %s failed outside any service", scope.get("method"), scope.get("path"))
            if started:  # too late for an error response: the connection is closed instead
                raise
            err = internal_failure()
            body = json.dumps({"__type": err.code, "message": err.message}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": err.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-amzn-errortype", err.code.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
