"""Answer only requests addressed to this machine's loopback: the defence against DNS rebinding.

The emulator binds 127.0.0.1, but a web page can make the browser send requests there under a name
the attacker's DNS points at 127.0.0.1; the Host header still carries that name. Requests whose Host
is not `localhost` or a loopback address (127.0.0.0/8, ::1), with any port, are refused with 403
before anything else runs.
"""

from __future__ import annotations

import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

FORBIDDEN_CODE = "AccessDeniedException"


def host_name(host: str) -> str:
    """The name or address of a Host header value, without its port (`[::1]:4566` -> `::1`)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") > 1:  # an IPv6 address without brackets (and so without a port)
        return host
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


def is_loopback(host: str) -> bool:
    name = host_name(host.strip()).lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoopbackOnly:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
            if len(hosts) != 1 or not is_loopback(hosts[0]):
                await _refuse(hosts, send)
                return
        await self._app(scope, receive, send)


async def _refuse(hosts: list[str], send: Send) -> None:
    shown = repr(hosts[0][:100]) if len(hosts) == 1 else f"{len(hosts)} Host headers"
    message = (
        f"Host {shown} is not a loopback name or address: the emulator answers only requests addressed "
        "to localhost, 127.0.0.0/8 or [::1]"
    )
    body = json.dumps({"__type": FORBIDDEN_CODE, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-amzn-errortype", FORBIDDEN_CODE.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
