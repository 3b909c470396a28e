"""A minimal keep-alive HTTP/1.1 client for POSTing to model workers on loopback.

httpx's AsyncClient cost ~2 ms per call here, more than the model. Workers are our own servers and
always answer with Content-Length, so a pooled asyncio stream per connection is enough.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class UpstreamError(Exception):
    """The worker could not be reached or answered with something that is not HTTP/1.1."""


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class UpstreamPool:
    def __init__(self, max_idle_per_port: int = 32) -> None:
        self._idle: dict[int, list[_Connection]] = {}
        self._max_idle = max_idle_per_port

    async def post(self, port: int, path: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.setdefault(port, [])
        if idle:  # a pooled connection may have been closed by the worker: retry once on a fresh one
            connection = idle.pop()
            try:
                return await self._exchange(port, connection, request)
            except (OSError, asyncio.IncompleteReadError, UpstreamError):
                connection[1].close()
        try:
            connection = await asyncio.open_connection("127.0.0.1", port)
            return await self._exchange(port, connection, request)
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise UpstreamError(f"{type(exc).__name__}: {exc}") from None

    async def _exchange(self, port: int, connection: _Connection, request: bytes) -> UpstreamResponse:
        reader, writer = connection
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise UpstreamError(f"malformed status line {lines[0]!r}") from None
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" not in fields:
            raise UpstreamError("worker response has no Content-Length")
        body = await reader.readexactly(int(fields["content-length"]))
        idle = self._idle.setdefault(port, [])
        if fields.get("connection", "").lower() == "close" or len(idle) >= self._max_idle:
            writer.close()
        else:
            idle.append(connection)
        return UpstreamResponse(status, fields.get("content-type", "application/octet-stream"), body)

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()
