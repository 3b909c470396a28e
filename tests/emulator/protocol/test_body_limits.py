"""Request bodies over a service's limit are refused with that service's error before they are read:
from the Content-Length alone (no body is sent here), or once a chunked body passes the limit."""

from __future__ import annotations

import http.client
import json
import re

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.kinesis.api import MAX_BODY_BYTES as KINESIS_BYTES
from emulator.lambda_.limits import MAX_CODE_REQUEST_BYTES, MAX_INVOKE_BYTES
from emulator.protocol.json_rpc import MIB
from emulator.s3.api import MAX_OBJECT_BYTES, MAX_REQUEST_XML_BYTES
from emulator.sagemaker_runtime.api import MAX_PAYLOAD_BYTES
from emulator.sqs.limits import MAX_BODY_BYTES as SQS_BYTES


def _target(target: str) -> dict:
    return {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}


TOO_LARGE = ("RequestEntityTooLargeException", 413)
INVOKE = "/2015-03-31/functions/f/invocations"

# (service, method, path, headers, the limit, (the code and status refusing one byte more))
CASES = [
    ("lambda", "POST", INVOKE, {}, MAX_INVOKE_BYTES, TOO_LARGE),
    ("lambda", "POST", "/2015-03-31/functions", {}, MAX_CODE_REQUEST_BYTES, TOO_LARGE),
    ("sqs", "POST", "/", _target("AmazonSQS.SendMessage"), SQS_BYTES, ("InvalidParameterValue", 400)),
    ("sqs", "POST", "/", _target("AmazonSQS.SendMessageBatch"), SQS_BYTES, ("BatchRequestTooLong", 400)),
    (
        "kinesis",
        "POST",
        "/",
        _target("Kinesis_20131202.PutRecords"),
        KINESIS_BYTES,
        ("InvalidArgumentException", 400),
    ),
    ("dynamodb", "POST", "/", _target("DynamoDB_20120810.BatchWriteItem"), 16 * MIB, TOO_LARGE),
    ("monitoring", "POST", "/", _target("GraniteServiceVersion20100801.PutMetricData"), MIB, TOO_LARGE),
    ("sagemaker", "POST", "/", _target("SageMaker.CreateModel"), 10 * MIB, TOO_LARGE),
    ("sagemaker", "POST", "/endpoints/e/invocations", {}, MAX_PAYLOAD_BYTES, ("ValidationError", 400)),
    ("s3", "PUT", "/limits/big.bin", {}, MAX_OBJECT_BYTES, ("EntityTooLarge", 400)),
    ("s3", "PUT", "/limits", {}, MAX_REQUEST_XML_BYTES, ("MaxMessageLengthExceeded", 400)),
]


def _signed(port: int, service: str, method: str, path: str, headers: dict) -> dict:
    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=b"", headers=headers)
    (S3SigV4Auth if service == "s3" else SigV4Auth)(
        Credentials("local", "local"), service, "us-east-1"
    ).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


def _code(service: str, headers: dict, body: bytes) -> str:
    if service == "s3":
        found = re.search(rb"<Code>(\w+)</Code>", body)
        return found.group(1).decode() if found else ""
    return json.loads(body).get("__type") or headers.get("x-amzn-errortype", "")


@pytest.mark.parametrize(("service", "method", "path", "headers", "limit", "refusal"), CASES)
def test_a_body_over_the_limit_is_refused_from_its_content_length(
    emulator, service, method, path, headers, limit, refusal
):
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=60)
    try:
        conn.putrequest(method, path)
        for name, value in _signed(emulator.port, service, method, path, headers).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(limit + 1))
        conn.endheaders()  # and not one byte of the body: the answer cannot wait for it
        response = conn.getresponse()
        body = response.read()
        answered = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    assert (_code(service, answered, body), response.status) == refusal, body[:300]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(emulator):
    headers = _signed(emulator.port, "lambda", "POST", INVOKE, {})
    chunk = b"x" * (256 * 1024)

    def body():
        for _ in range(MAX_INVOKE_BYTES // len(chunk) + 2):
            yield chunk

    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=60)
    try:
        conn.request("POST", INVOKE, body=body(), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status == 413, answer[:300]
    assert json.loads(answer)["message"].startswith(f"Request must be smaller than {MAX_INVOKE_BYTES} bytes")
