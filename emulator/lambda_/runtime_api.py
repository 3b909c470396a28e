"""The Lambda Runtime API (2018-06-01) that one worker process polls, on its own loopback port.

One server per worker makes routing trivial and robust: whatever the emulator hands this worker is
what its `GET /next` returns, so concurrent workers can never receive the same invocation, and a
timeout or crash is attributed to exactly the invocation that worker held. awslambdaric's native
client needs HTTP/1.1 with a Content-Length on every response, which `protocol_version` and `_send`
guarantee.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PREFIX = "/2018-06-01/runtime"
_RESULT = re.compile(_PREFIX + r"/invocation/(?P<id>[^/]+)/(?P<kind>response|error)\Z")
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class Outcome:
    """What an invocation produced: the payload, and the error type when the function failed."""

    payload: bytes
    error_type: str | None = None


def error_outcome(error_type: str, message: str) -> Outcome:
    return Outcome(json.dumps({"errorType": error_type, "errorMessage": message}).encode(), error_type)


class Invocation:
    """One request in flight on one worker; the first outcome reported wins, later ones are ignored."""

    def __init__(self, request_id: str, payload: bytes, function_arn: str, timeout_s: float) -> None:
        self.request_id = request_id
        self.payload = payload
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.deadline: float | None = None  # epoch seconds, set when the worker picks it up
        self.outcome: Outcome | None = None
        self._cond = threading.Condition()

    def deliver(self) -> float:
        with self._cond:
            self.deadline = time.time() + self.timeout_s
            self._cond.notify_all()
            return self.deadline

    def finish(self, outcome: Outcome) -> None:
        with self._cond:
            if self.outcome is None:
                self.outcome = outcome
                self._cond.notify_all()

    def wait(self, init_timeout_s: float) -> Outcome | None:
        """The outcome, or None if the function timed out (before delivery, init gets its own limit)."""
        init_deadline = time.time() + init_timeout_s
        with self._cond:
            while self.outcome is None:
                limit = self.deadline if self.deadline is not None else init_deadline
                remaining = limit - time.time()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self.outcome


_STOP = object()  # queued to release a blocked GET /next when the worker shuts down


class RuntimeApiServer:
    """Serves one worker: hands it queued invocations and collects their results."""

    def __init__(self, on_init_error: Callable[[Outcome], None]) -> None:
        self._pending: queue.Queue = queue.Queue()
        self._current: Invocation | None = None
        self._on_init_error = on_init_error
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="lambda-runtime-api").start()

    def submit(self, invocation: Invocation) -> None:
        self._pending.put(invocation)

    def close(self) -> None:
        self._pending.put(_STOP)
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Invocation | None:
        item = self._pending.get()
        if item is _STOP:
            return None
        self._current = item
        return item

    def _result(self, request_id: str) -> Invocation | None:
        current = self._current
        return current if current is not None and current.request_id == request_id else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
                pass  # the worker's own log is what users read

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                if self.path != _PREFIX + "/invocation/next":
                    self._send(404, b'{"errorType":"InvalidRequest","errorMessage":"unknown path"}')
                    return
                invocation = api._next()
                if invocation is None:
                    self.close_connection = True
                    self._send(410, b'{"errorType":"Shutdown","errorMessage":"worker is stopping"}')
                    return
                deadline = invocation.deliver()
                self._send(
                    200,
                    invocation.payload,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(int(deadline * 1000)),
                        "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-"
                        f"{invocation.request_id.replace('-', '')[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                body = self._body()
                if self.path == _PREFIX + "/init/error":
                    api._on_init_error(Outcome(body, self.headers.get(_ERROR_TYPE_HEADER, "Runtime.Unknown")))
                    self._send(202, b'{"status":"OK"}')
                    return
                match = _RESULT.match(self.path)
                invocation = api._result(match.group("id")) if match else None
                if invocation is None:
                    self._send(400, b'{"errorType":"InvalidRequestID","errorMessage":"unknown request id"}')
                    return
                if match.group("kind") == "response":
                    invocation.finish(Outcome(body))
                else:
                    error_type = self.headers.get(_ERROR_TYPE_HEADER) or "Unhandled"
                    invocation.finish(Outcome(body, error_type))
                self._send(202, b'{"status":"OK"}')

        return Handler
