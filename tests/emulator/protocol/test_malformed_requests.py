"""Malformed requests, generated, against every operation the emulator routes (its own listing at
/_rtinfer/operations): signed as botocore signs them, sent raw, so nothing checks them on the way.

Every answer must be below 500, an error must be a well-formed error of its protocol with a code, and
nothing in it may show the emulator's files or a traceback. Bodies: bytes that are not JSON, JSON that
is not an object, nesting thousands deep, and objects whose members (named by botocore's model of the
operation) carry values of any JSON type; for REST operations also path parameters, query strings and
headers of any kind, and S3 bodies in a broken aws-chunked encoding.

The emulator is this module's own: the requests create buckets, streams and queues now and then.
Measuring another emulator: with RTINFER_FUZZ_TARGET_PORT set the requests go to the emulator on that
port (the operations are still listed by this checkout's emulator); with RTINFER_FUZZ_FIGURES=<file>
every answer is tallied (status class, and what was wrong with it) instead of asserted, and the tally
per service is written there as JSON.
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import os
import re
import site
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import botocore.session
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import control
from orchestration.aws import aws_client
from orchestration.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL_NAMES = {"monitoring": "cloudwatch", "sagemaker": "sagemaker", "lambda": "lambda", "s3": "s3"}
CREDENTIALS = Credentials("local", "local")
# RTINFER_FUZZ_EXAMPLES=n: a longer hunt, on fresh random examples each run
HUNTING = bool(os.environ.get("RTINFER_FUZZ_EXAMPLES"))
EXAMPLES = int(os.environ.get("RTINFER_FUZZ_EXAMPLES") or 12)

# ---- what is sent ------------------------------------------------------------------------------------

# Integers small enough to be harmless if a handler takes them at face value (a wait in seconds, a
# shard count), or beyond 64 bits.
INTEGERS = st.integers(-3, 3) | st.sampled_from([-(2**31) - 1, -(2**63) - 1, 2**64, 10**30])
# Names of resources the module's emulator has, so that requests get past "not found" now and then.
KNOWN = ("fuzz-bucket", "fuzz-stream", "fuzz-table", "fuzz-queue", "fuzz-key", "fuzz-bucket/fuzz-key")
NASTY_TEXT = st.sampled_from(
    ["", "\x00", "a" * 2000, "((((" * 400, "${x}", "../../etc/passwd", "\u2028\ud7ff\ufffd", "%00", "#:x"]
)
TEXT = st.text(max_size=20) | NASTY_TEXT | st.sampled_from(KNOWN)
SCALARS = st.none() | st.booleans() | INTEGERS | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _typed(shape, depth: int, strict: bool) -> st.SearchStrategy:
    """A value of the member's declared type (with hostile contents) or, unless `strict`, of any type."""
    kind = shape.type_name
    if depth > 2:
        return JSON_VALUES
    if kind == "structure":
        members = {name: _typed(member, depth + 1, strict) for name, member in shape.members.items()}
        required = set(shape.required_members) if strict else set()
        typed = st.fixed_dictionaries(
            {name: members[name] for name in required},
            optional={name: value for name, value in members.items() if name not in required},
        )
    elif kind == "list":
        typed = st.lists(_typed(shape.member, depth + 1, strict), max_size=3)
    elif kind == "map":
        typed = st.dictionaries(TEXT, _typed(shape.value, depth + 1, strict), max_size=3)
    elif kind in ("integer", "long"):
        typed = INTEGERS
    elif kind in ("float", "double", "timestamp"):
        typed = st.floats(allow_nan=False, allow_infinity=False) | INTEGERS
    elif kind == "boolean":
        typed = st.booleans()
    elif kind == "blob":
        typed = st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode())
    else:
        typed = TEXT
    return typed if strict else typed | JSON_VALUES


def _deep(n: int, kind: str) -> bytes:
    return b"[" * n + b"]" * n if kind == "list" else b'{"a":' * n + b"1" + b"}" * n


DEEP = st.builds(_deep, st.integers(200, 20_000), st.sampled_from(["list", "object"]))
NOT_OBJECTS = JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode())
GARBAGE = st.binary(max_size=64) | st.sampled_from([b"{", b'{"a": NaN}', b'{"a": 1e999}', b'"\\ud800"'])


def json_bodies(input_shape) -> st.SearchStrategy[bytes]:
    """Not JSON, not an object, too deep, or the operation's members: of any type, or of the declared
    types with hostile values (what reaches the operation's own checks)."""
    if input_shape is None:
        return st.one_of(GARBAGE, NOT_OBJECTS, DEEP)
    loose, strict = (
        _typed(input_shape, 0, strict).map(lambda d: json.dumps(d).encode()) for strict in (False, True)
    )
    return st.one_of(GARBAGE, NOT_OBJECTS, DEEP, loose, strict, strict)


HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
)
PATH_PARAMS = TEXT | st.sampled_from(["..", "Invalid_Bucket", "a" * 300, "\x00", "ok-bucket"])


def _chunked(parts: list[bytes], size_override: str | None, cut: int | None) -> bytes:
    body = b"".join(
        f"{size_override or format(len(part), 'x')};chunk-signature=00\r\n".encode() + part + b"\r\n"
        for part in parts
    )
    body += b"0\r\n\r\n"
    return body[:cut] if cut is not None else body


CHUNKED = st.builds(
    _chunked,
    st.lists(st.binary(min_size=1, max_size=20), max_size=3),
    st.none() | st.sampled_from(["zz", "ffffffffffffffffff", "-1", "", "2"]),
    st.none() | st.integers(0, 40),
)

# ---- how it is sent ------------------------------------------------------------------------------------


class Target:
    def __init__(self, port: int, home: Path) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.forbidden = [
            str(home),
            str(REPO_ROOT),
            sys.prefix,
            tempfile.gettempdir() + "/",
            *site.getsitepackages(),
        ]
        self.tally: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._conn: http.client.HTTPConnection | None = None
        self.measuring = bool(os.environ.get("RTINFER_FUZZ_FIGURES"))
        self.failures: list[str] = []

    def send(self, service: str, method: str, path: str, query: dict, headers: dict, body: bytes):
        url = f"http://{self.host}{path}" + (f"?{urlencode(query)}" if query else "")
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        signer(CREDENTIALS, service, "us-east-1").add_auth(request)
        target = path + (f"?{urlencode(query)}" if query else "")
        for attempt in range(2):  # a connection the server closed after an early refusal: reconnect once
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self._conn.request(method, target, body=body, headers=dict(request.headers.items()))
                response = self._conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self._conn.close()
                    self._conn = None
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (ConnectionError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def check(self, service: str, what: str, method: str, answer) -> None:
        status, _, data = answer
        self.tally[service][f"{status // 100}xx"] += 1
        problems = self.problems(service, method, answer)
        if not self.measuring:
            assert not problems, f"{what}: HTTP {status} {data[:300]!r}: {'; '.join(problems)}"
        for problem in problems:
            self.tally[service][problem.split(":")[0]] += 1
            self.failures.append(f"{what[:300]}: HTTP {status} {data[:200]!r}: {problem}")

    def problems(self, service: str, method: str, answer) -> list[str]:
        """What is wrong with an answer: a server error, a leak, an error body without a code."""
        status, headers, data = answer
        text = data.decode("utf-8", "replace")
        found = [f"shows a path: {path}" for path in self.forbidden if path in text]
        if "Traceback" in text or 'File "' in text:
            found.append("shows a traceback")
        if status >= 500:
            found.append("server error")
        if status >= 400 and method != "HEAD" and not _well_formed_error(service, headers, data):
            found.append("malformed error: no code and message in its protocol's shape")
        return found


def _well_formed_error(service: str, headers: dict, data: bytes) -> bool:
    if service == "s3":
        return bool(re.search(rb"<Error><Code>\w+</Code><Message>", data))
    try:
        parsed = json.loads(data)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    code = parsed.get("__type") or headers.get("x-amzn-errortype")
    return bool(code) and isinstance(parsed.get("message") or parsed.get("Message"), str)


def _list_operations(port: int) -> list[dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/_rtinfer/operations")
    operations = json.loads(conn.getresponse().read())
    conn.close()
    return operations


def _create_known_resources(port: int) -> None:
    settings = Settings(env="local", home=Path("."), emulator_port=port, region="us-east-1")
    s3, kinesis, dynamodb, sqs = (aws_client(name, settings) for name in ("s3", "kinesis", "dynamodb", "sqs"))
    s3.create_bucket(Bucket="fuzz-bucket")
    s3.put_object(Bucket="fuzz-bucket", Key="fuzz-key", Body=b"fuzz", Metadata={"a": "1"})
    kinesis.create_stream(StreamName="fuzz-stream", ShardCount=1)
    dynamodb.create_table(
        TableName="fuzz-table",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs.create_queue(QueueName="fuzz-queue")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def own_emulator(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    home, port = tmp_path_factory.mktemp("fuzz-home"), _free_port()
    control.start(port, home)
    _create_known_resources(port)
    yield port, home
    control.stop(home)


@pytest.fixture(scope="module")
def routed(own_emulator) -> list[dict]:
    return _list_operations(own_emulator[0])


@pytest.fixture(scope="module")
def target(own_emulator):
    port, home = own_emulator
    other = os.environ.get("RTINFER_FUZZ_TARGET_PORT")
    if other:
        _create_known_resources(int(other))
    running = Target(int(other or port), home)
    yield running
    figures = os.environ.get("RTINFER_FUZZ_FIGURES")
    if figures:
        tally = {k: dict(v) for k, v in running.tally.items()}
        Path(figures).write_text(json.dumps({"tally": tally, "failures": running.failures}, indent=1))


# ---- the model's view of each routed operation ---------------------------------------------------------

_SESSION = botocore.session.get_session()


def _model(service: str):
    return _SESSION.get_service_model(MODEL_NAMES.get(service, service))


def _template(uri: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", uri.partition("?")[0]).rstrip("/") or "/"


def rest_input_shape(service: str, method: str, path: str):
    """The input shape of the model's operation at `method path` (None when the model has none)."""
    model = _model("sagemaker-runtime" if path.startswith("/endpoints/") else service)
    wanted = _template(path)
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.http.get("method") == method and _template(operation.http["requestUri"]) == wanted:
            return operation.input_shape
    return None


_QUERY_NAMES = {
    "lambda": ["MaxItems", "Marker", "Qualifier", "FunctionName", "EventSourceArn", "FunctionVersion"],
    "s3": ["list-type", "max-keys", "continuation-token", "start-after", "prefix", "marker", "delimiter"],
    "sagemaker": ["x"],
}
_HEADER_NAMES = {
    "lambda": ["X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context", "Content-Type"],
    "s3": [
        "x-amz-copy-source",
        "x-amz-metadata-directive",
        "x-amz-meta-a",
        "x-amz-meta-",
        "x-amz-decoded-content-length",
        "Content-Type",
        "Range",
    ],
    "sagemaker": [
        "Content-Type",
        "Accept",
        "X-Amzn-SageMaker-Target-Variant",
        "X-Amzn-SageMaker-Inference-Id",
    ],
}


SERVICES = ("s3", "kinesis", "dynamodb", "sqs", "lambda", "monitoring", "sagemaker")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not HUNTING,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def _fuzz(target: Target, operation: dict, data: Any) -> None:
    service = operation["service"]
    if operation["protocol"] == "json":
        name = operation["target"].partition(".")[2]
        model = _model(service)
        shape = model.operation_model(name).input_shape if name in model.operation_names else None
        body = data.draw(json_bodies(shape), label="body")
        headers = {"X-Amz-Target": operation["target"], "Content-Type": operation["content_type"]}
        answer = target.send(service, "POST", "/", {}, headers, body)
        target.check(service, f"{operation['target']} {body[:200]!r}", "POST", answer)
        return
    method, template = operation["method"], operation["path"]
    names = re.findall(r"\{(\w+)\}", template)
    values = {name: data.draw(PATH_PARAMS.filter(bool), label=name) for name in names}
    path = template.format(**{name: quote(value, safe="") for name, value in values.items()})
    query = data.draw(
        st.dictionaries(st.sampled_from(_QUERY_NAMES[service]), TEXT, max_size=3), label="query"
    )
    headers = data.draw(
        st.dictionaries(st.sampled_from(_HEADER_NAMES[service]), HEADER_TEXT, max_size=3), label="headers"
    )
    if service == "s3":
        body = data.draw(CHUNKED | GARBAGE | st.just(b""), label="body")
        if data.draw(st.booleans(), label="aws-chunked"):
            headers["Content-Encoding"] = "aws-chunked"
    else:
        shape = rest_input_shape(service, method, template)
        body = data.draw(json_bodies(shape) | st.just(b""), label="body")
    answer = target.send(service, method, path, query, headers, body)
    target.check(service, f"{method} {path} {query} {headers} {body[:200]!r}", method, answer)


@pytest.mark.parametrize("service", SERVICES)
def test_malformed_requests_get_aws_errors(routed, target, service):
    operations = [o for o in routed if o["service"] == service]
    assert operations, f"the emulator routes no {service} operation"
    for operation in operations:
        _fuzz(target, operation)


def test_every_routed_service_is_fuzzed(routed):
    assert {o["service"] for o in routed} <= set(SERVICES)
