"""Only requests addressed to loopback are answered: a DNS-rebinding page (its own name in Host) gets 403."""

from __future__ import annotations

import http.client
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.protocol.loopback import is_loopback

CREATE_FUNCTION = json.dumps(
    {"FunctionName": "rebound", "Role": "r", "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}
).encode()


def _send(port: int, method: str, path: str, host: str | None, body: bytes = b"") -> tuple[int, dict]:
    """A SigV4-signed Lambda request sent with `host` as its Host header (None: no Host header)."""
    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body)
    SigV4Auth(Credentials("local", "local"), "lambda", "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.parametrize(
    "host",
    ["rebind.attacker.example", "rebind.attacker.example:{port}", "10.0.0.7:{port}", "127.0.0.1.nip.io"],
)
def test_a_request_for_another_host_is_refused(emulator, host):
    host = host.format(port=emulator.port)
    for method, path, body in (
        ("GET", "/2015-03-31/functions/", b""),
        ("POST", "/2015-03-31/functions", CREATE_FUNCTION),
    ):
        status, answer = _send(emulator.port, method, path, host, body)
        assert status == 403, (host, method, status, answer)
        assert answer["__type"] == "AccessDeniedException"
        assert repr(host) in answer["message"] and "loopback" in answer["message"]
    assert emulator.client("lambda").list_functions()["Functions"] is not None  # still serving loopback
    assert "rebound" not in {
        f["FunctionName"] for f in emulator.client("lambda").list_functions()["Functions"]
    }


def test_a_request_without_a_host_is_refused(emulator):
    status, answer = _send(emulator.port, "GET", "/2015-03-31/functions/", None)
    assert status == 403 and "0 Host headers" in answer["message"]


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost:{port}", "127.0.0.1:{port}", "127.8.9.10", "[::1]:{port}"]
)
def test_loopback_names_and_addresses_are_answered(emulator, host):
    status, answer = _send(emulator.port, "GET", "/2015-03-31/functions/", host.format(port=emulator.port))
    assert status == 200 and "Functions" in answer, (host, status, answer)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:4566", True),
        ("127.0.0.1", True),
        ("127.255.255.254:1", True),
        ("[::1]", True),
        ("[::1]:4566", True),
        ("::1", True),
        ("localhost.attacker.example", False),
        ("127.0.0.1.attacker.example", False),
        ("128.0.0.1", False),
        ("[::2]:4566", False),
        ("0.0.0.0", False),
        ("", False),
        ("[::1", False),
    ],
)
def test_which_hosts_are_loopback(host, loopback):
    assert is_loopback(host) is loopback
