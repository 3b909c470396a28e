"""Lambda functions against the emulator with real boto3: zips run by awslambdaric in worker processes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HANDLERS = """
import json, os, time

import boto3
import tenacity


def echo(event, context):
    print("echo called with", json.dumps(event))
    return {"event": event, "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(), "pid": os.getpid()}


def fail(event, context):
    raise ValueError(f"bad input: {event.get('x')}")


def sleep(event, context):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"], "pid": os.getpid()}


def environment(event, context):
    return {key: os.environ.get(key) for key in event["keys"]}


def call_emulator(event, context):
    # no endpoint_url: AWS_ENDPOINT_URL from the function's environment points boto3 at the emulator
    functions = boto3.client("lambda").list_functions()["Functions"]
    return sorted(f["FunctionName"] for f in functions)


def imports(event, context):
    try:
        import serving  # noqa: F401
        repo_visible = True
    except ImportError:
        repo_visible = False
    return {"tenacity": tenacity.__version__, "repo_visible": repo_visible}
"""
# a package in the zip shadows the interpreter's copy, as a function's bundled dependencies do on AWS
PACKAGE = {"app.py": HANDLERS, "tenacity/__init__.py": "__version__ = 'from-the-zip'\n"}


@pytest.fixture(scope="module")
def aws(emulator):
    config = Config(read_timeout=60, retries={"total_max_attempts": 1})
    return emulator.client("lambda", config)


@pytest.fixture(scope="module")
def package(lambda_zip) -> bytes:
    return lambda_zip(PACKAGE)


@pytest.fixture(scope="module")
def make_function(aws, package):
    def create(name: str, handler: str, **extra) -> str:
        code = {"ZipFile": extra.pop("zip", package)}
        settings = {"Runtime": "python3.11", "Role": "arn:aws:iam::000000000000:role/lambda", **extra}
        aws.create_function(FunctionName=name, Handler=handler, Code=code, **settings)
        return name

    return create


def invoke(aws, name: str, event: dict | None = None, **extra) -> tuple[dict, object]:
    response = aws.invoke(FunctionName=name, Payload=json.dumps(event or {}), **extra)
    return response, json.loads(response["Payload"].read())


def test_create_get_invoke_update_delete(aws, make_function, package, lambda_zip):
    created = make_function("echo", "app.echo", Timeout=5, MemorySize=256)
    assert created == "echo"
    config = aws.get_function(FunctionName="echo")["Configuration"]
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert config["CodeSize"] == len(package)
    assert config["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
    assert (config["Timeout"], config["MemorySize"], config["Handler"]) == (5, 256, "app.echo")
    assert "echo" in [f["FunctionName"] for f in aws.list_functions()["Functions"]]

    response, body = invoke(aws, "echo", {"a": 1}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert body["event"] == {"a": 1}
    assert 0 < body["remaining_ms"] <= 5000
    log_tail = base64.b64decode(response["LogResult"]).decode()
    assert 'echo called with {"a": 1}' in log_tail
    assert f"REPORT RequestId: {body['request_id']}" in log_tail

    _, again = invoke(aws, "echo", {"a": 2})
    assert again["pid"] == body["pid"]  # the warm worker is reused

    reconfigured = aws.update_function_configuration(FunctionName="echo", Timeout=7)
    assert (reconfigured["Timeout"], reconfigured["MemorySize"]) == (7, 256)
    _, fresh = invoke(aws, "echo")
    assert fresh["pid"] != body["pid"] and 5000 < fresh["remaining_ms"] <= 7000

    new_code = lambda_zip({"app.py": "def echo(event, context):\n    return 'v2'\n"})
    updated = aws.update_function_code(FunctionName="echo", ZipFile=new_code)
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    assert invoke(aws, "echo")[1] == "v2"

    assert aws.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    aws.delete_function(FunctionName="echo")
    with pytest.raises(ClientError) as missing:
        aws.get_function(FunctionName="echo")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_errors_as_aws_reports_them(aws, make_function, package):
    make_function("dup", "app.echo")
    with pytest.raises(ClientError) as duplicate:
        make_function("dup", "app.echo")
    assert duplicate.value.response["Error"]["Code"] == "ResourceConflictException"

    with pytest.raises(ClientError) as runtime:
        make_function("old", "app.echo", Runtime="python2.7")
    assert runtime.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "python2.7" in runtime.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as reserved:
        make_function("reserved", "app.echo", Environment={"Variables": {"AWS_REGION": "x"}})
    assert "AWS_REGION" in reserved.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as not_zip:
        make_function("notzip", "app.echo", zip=b"not a zip")
    assert not_zip.value.response["Error"]["Code"] == "InvalidParameterValueException"

    with pytest.raises(ClientError) as too_large:
        aws.invoke(FunctionName="dup", Payload=json.dumps({"x": "a" * (6 * 1024 * 1024)}))
    assert too_large.value.response["Error"]["Code"] == "RequestEntityTooLargeException"

    with pytest.raises(ClientError) as unknown:
        aws.invoke(FunctionName="nope", Payload=b"{}")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_handler_error_is_an_unhandled_function_error(aws, make_function):
    make_function("fail", "app.fail")
    response, body = invoke(aws, "fail", {"x": 42})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "bad input: 42"
    assert body["errorType"] == "ValueError"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]


def test_missing_handler_module_is_an_init_error(aws, make_function):
    make_function("noimport", "missing.handler")
    response, body = invoke(aws, "noimport")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"


def test_timeout_kills_the_worker_and_the_next_call_gets_a_new_one(aws, make_function):
    make_function("slow", "app.sleep", Timeout=1)
    _, first = invoke(aws, "slow", {"seconds": 0})
    started = time.monotonic()
    response, body = invoke(aws, "slow", {"seconds": 10})
    assert time.monotonic() - started < 5
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    _, after = invoke(aws, "slow", {"seconds": 0})
    assert after["slept"] == 0 and after["pid"] != first["pid"]


def test_worker_killed_mid_invocation_fails_it_and_is_replaced(aws, make_function):
    make_function("victim", "app.sleep", Timeout=30)
    _, warm = invoke(aws, "victim", {"seconds": 0})
    killer = threading.Timer(1.0, os.kill, (warm["pid"], signal.SIGKILL))
    killer.start()
    response, body = invoke(aws, "victim", {"seconds": 20})
    killer.join()
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "signal: kill" in body["errorMessage"]
    _, after = invoke(aws, "victim", {"seconds": 0})
    assert after["pid"] != warm["pid"]


def test_environment_is_lambdas_and_points_at_the_emulator(aws, make_function, emulator):
    make_function("env", "app.environment", MemorySize=512, Environment={"Variables": {"STAGE": "test"}})
    keys = [
        "STAGE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "_HANDLER",
        "TZ",
        "AWS_ENDPOINT_URL",
        "RTINFER_ENV",
        "RTINFER_EMULATOR_PORT",
        "LAMBDA_TASK_ROOT",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ]
    _, seen = invoke(aws, "env", {"keys": keys})
    assert seen["STAGE"] == "test"
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == "env"
    assert seen["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert seen["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert seen["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env"
    assert seen["AWS_REGION"] == "us-east-1"
    assert seen["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert seen["_HANDLER"] == "app.environment"
    assert seen["TZ"] == ":UTC"
    assert seen["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{emulator.port}"
    assert seen["RTINFER_ENV"] == "local"
    assert seen["RTINFER_EMULATOR_PORT"] == str(emulator.port)
    assert seen["LAMBDA_TASK_ROOT"] and seen["AWS_LAMBDA_LOG_STREAM_NAME"]

    make_function("caller", "app.call_emulator")
    response, names = invoke(aws, "caller")
    assert "FunctionError" not in response, names
    assert "caller" in names


def test_code_comes_from_the_zip(aws, make_function):
    make_function("imports", "app.imports")
    response, body = invoke(aws, "imports")
    assert "FunctionError" not in response, body
    assert body == {"tenacity": "from-the-zip", "repo_visible": False}


def test_concurrent_invocations_run_on_separate_workers(aws, make_function):
    make_function("parallel", "app.sleep", Timeout=10)
    results: list[dict] = []

    def call() -> None:
        results.append(invoke(aws, "parallel", {"seconds": 1})[1])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r["pid"] for r in results}) == 3
