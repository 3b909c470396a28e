"""The model guard (emulator/model_guard, tests/plugins/model_guard.py) catches what breaks botocore's
service models, in the test process, in Python subprocesses and in Lambda function workers.

A small real HTTP server stands in for a service that answers wrongly; real boto3 clients call it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
import rtinfer_model_guard as guard
from botocore.config import Config
from botocore.exceptions import ClientError

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
ENDPOINT_ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/e"
NOW = 1_700_000_000


class WrongService:
    """Answers each JSON operation (X-Amz-Target) with the body and status it was last given for it."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[dict, int, dict]] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                body, status, headers = service.answers.get(operation, ({}, 200, {}))
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, operation: str, body: dict, status: int = 200, headers: dict | None = None) -> None:
        self.answers[operation] = (body, status, headers or {})

    def client(self, service: str, config: Config | None = None):
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=(config or Config()).merge(Config(retries={"total_max_attempts": 1})),
        )


@pytest.fixture(scope="module")
def wrong():
    service = WrongService()
    yield service
    service.server.shutdown()


def _endpoint(**changes) -> dict:
    body = {
        "EndpointName": "e",
        "EndpointArn": ENDPOINT_ARN,
        "EndpointConfigName": "c",
        "EndpointStatus": "InService",
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    return {key: value for key, value in {**body, **changes}.items() if value is not None}


def _found(violations: list[dict]) -> set[tuple[str, str, str]]:
    return {(v["operation"], v["part"], v["path"]) for v in violations}


def test_a_valid_response_passes(wrong):
    wrong.answer("DescribeEndpoint", _endpoint())
    wrong.client("sagemaker").describe_endpoint(EndpointName="e")
    # the models' minimums bind requests only: AWS itself answers FailedRecordCount 0 (min 1)
    wrong.answer("PutRecords", {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"}]})
    wrong.client("kinesis").put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}])
    assert guard.drain() == []


def test_a_member_the_model_does_not_have_is_a_violation(wrong):
    """The parser drops what it does not know: a misspelt member would just read as absent."""
    wrong.answer("DescribeEndpoint", {**_endpoint(), "FailureReson": "typo", "CreationTime": NOW})
    described = wrong.client("sagemaker").describe_endpoint(EndpointName="e")
    assert "FailureReson" not in described and "FailureReason" not in described
    [violation] = guard.drain()
    assert (violation["part"], violation["path"]) == ("response", "(response)")
    assert violation["problem"] == "the body has member 'FailureReson', which the model does not"


def test_response_members_missing_mistyped_or_outside_their_enum(wrong):
    wrong.answer(
        "DescribeEndpoint",
        _endpoint(
            EndpointArn=None,
            EndpointStatus="Terminating",
            ProductionVariants=[
                {
                    "VariantName": "a",
                    "CurrentInstanceCount": "2",
                    "VariantStatus": [{"Status": "Terminating"}],
                }
            ],
        ),
    )
    wrong.client("sagemaker").describe_endpoint(EndpointName="e")
    violations = guard.drain()
    assert _found(violations) == {
        ("DescribeEndpoint", "response", "(response)"),  # EndpointArn is required
        ("DescribeEndpoint", "response", "EndpointStatus"),
        ("DescribeEndpoint", "response", "ProductionVariants[0].CurrentInstanceCount"),
        ("DescribeEndpoint", "response", "ProductionVariants[0].VariantStatus[0].Status"),
    }
    problems = " | ".join(guard.describe(v) for v in violations)
    assert "'EndpointArn' is missing" in problems
    assert "'Terminating' is not one of Creating, Updating, Deleting" in problems
    assert "'2' has type str" in problems
    assert {v["origin"] for v in violations} == {f"the test process (pid {os.getpid()})"}


def test_the_response_is_checked_before_boto3s_resources_transform_it(wrong):
    """boto3's DynamoDB Table turns AttributeValues into Python values in its own after-call handler;
    the guard checks what the service sent."""
    wrong.answer("GetItem", {"Item": {"pk": {"S": "a"}, "n": {"N": 5}}})
    table = boto3.resource(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=wrong.url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).Table("t")
    assert table.get_item(Key={"pk": "a"})["Item"] == {"pk": "a", "n": 5}
    [violation] = guard.drain()
    assert (violation["path"], violation["problem"]) == ("Item.n.N", "5 has type int, valid: <class 'str'>")


def test_error_codes_must_be_modelled_or_common(wrong):
    cloudwatch = wrong.client("cloudwatch")
    wrong.answer("ListMetrics", {"__type": "ValidationException", "message": "bad"}, status=400)
    with pytest.raises(ClientError):
        cloudwatch.list_metrics(Namespace="n")
    [violation] = guard.drain()
    assert (violation["operation"], violation["part"], violation["path"]) == (
        "ListMetrics",
        "error",
        "Error.Code",
    )
    assert "'ValidationException' is neither modelled" in violation["problem"]

    # a query-compatible service's JSON error maps to its modelled class by the query error code
    wrong.answer("ListMetrics", {"__type": "InvalidParameterValue", "message": "bad"}, status=400)
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException):
        cloudwatch.list_metrics(Namespace="n")
    wrong.answer("DescribeEndpoint", {"__type": "ValidationException", "message": "no such"}, status=400)
    with pytest.raises(ClientError):
        wrong.client("sagemaker").describe_endpoint(EndpointName="e")
    assert guard.drain() == []


def test_the_error_code_checked_is_the_one_botocore_picks_the_exception_by(wrong):
    """SQS names its legacy query code in x-amzn-query-error; botocore still raises by the shape name
    in `__type` (QueueDoesNotExist). The guard checks that name, not the legacy code."""
    sqs = wrong.client("sqs")
    legacy = {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"}
    wrong.answer("GetQueueUrl", {"__type": "QueueDoesNotExist", "message": "gone"}, 400, legacy)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.get_queue_url(QueueName="q")
    assert raised.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    wrong.answer("GetQueueUrl", {"__type": "NoSuchQueueAnywhere", "message": "gone"}, 400, legacy)
    with pytest.raises(ClientError):
        sqs.get_queue_url(QueueName="q")
    [violation] = guard.drain()
    assert "'NoSuchQueueAnywhere' is neither modelled" in violation["problem"]


def test_an_invalid_request_the_service_accepts_is_a_violation(wrong):
    """Clients that skip client-side validation are validated by the guard: AWS refuses what the model
    refuses, so a service that answers success to it is not answering like AWS."""
    unvalidated = wrong.client("sqs", Config(parameter_validation=False))
    wrong.answer("DeleteMessage", {})
    unvalidated.delete_message(QueueUrl="http://q", ReceiptHandle=7)
    [violation] = guard.drain()
    assert (violation["part"], violation["path"]) == ("request", "ReceiptHandle")
    assert "has type int" in violation["problem"] and "the service accepted it" in violation["problem"]

    wrong.answer("DeleteMessage", {"__type": "InvalidParameterValue", "message": "bad"}, status=400)
    with pytest.raises(ClientError):
        unvalidated.delete_message(QueueUrl="http://q", ReceiptHandle=7)
    assert guard.drain() == []  # refused, as AWS would

    with pytest.raises(Exception, match="Invalid type for parameter ReceiptHandle"):
        wrong.client("sqs").delete_message(QueueUrl="http://q", ReceiptHandle=7)  # botocore's own check

    # botocore's own validation leaves enum values to the service: the guard checks them for every client
    wrong.answer("ListEndpoints", {"Endpoints": []})
    wrong.client("sagemaker").list_endpoints(SortBy="Popularity")
    [violation] = guard.drain()
    assert (violation["part"], violation["path"]) == ("request", "SortBy")
    assert (
        violation["problem"]
        == "'Popularity' is not one of Name, CreationTime, Status (and the service accepted it)"
    )

    # except where the model's enum is not what AWS takes: ReceiveMessage's AttributeNames names
    # message attributes, as its documentation says, though its enum lists the queue's
    wrong.answer("ReceiveMessage", {"Messages": []})
    wrong.client("sqs").receive_message(QueueUrl="http://q", AttributeNames=["ApproximateReceiveCount"])
    assert guard.drain() == []


def test_subprocesses_report_through_sitecustomize(wrong, tmp_path):
    """The session puts the guard first on PYTHONPATH; a Python subprocess with RTINFER_MODEL_GUARD set
    checks its calls and appends what it finds to the report directory. botocore is not imported for it."""
    script = textwrap.dedent(
        f"""
        import sys
        assert "botocore" not in sys.modules
        import boto3
        client = boto3.client("sagemaker", region_name="us-east-1", endpoint_url="{wrong.url}",
                              aws_access_key_id="local", aws_secret_access_key="local")
        client.describe_endpoint(EndpointName="e")
        """
    )
    wrong.answer("DescribeEndpoint", _endpoint(EndpointStatus="Terminating"))
    env = {**os.environ, guard.ENV: str(tmp_path)}
    process = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    [report] = list(tmp_path.glob("*.jsonl"))
    [violation] = [json.loads(line) for line in report.read_text().splitlines()]
    assert (violation["operation"], violation["path"]) == ("DescribeEndpoint", "EndpointStatus")


FUNCTION = """
import boto3


def call(event, context):
    client = boto3.client("sagemaker", endpoint_url=event["url"])
    return client.describe_endpoint(EndpointName="e")["EndpointStatus"]
"""


def _invoke(aws, name: str, event: dict) -> object:
    response = aws.invoke(FunctionName=name, Payload=json.dumps(event))
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())


def _wait_for_reports(directory: Path, timeout_s: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = [line for path in directory.glob("*.jsonl") for line in path.read_text().splitlines()]
        if lines:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)
    return []


def test_lambda_workers_report_through_the_launcher(emulator, lambda_zip, wrong, tmp_path):
    """The session's emulator starts function workers (`python -S`, a clean environment) through the
    guard's launcher; the function's own boto3 is checked. Here the function's report directory is
    this test's (a function variable), so the session's plugin does not count the violation."""
    aws = emulator.client("lambda")
    aws.create_function(
        FunctionName="guarded",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambda",
        Handler="app.call",
        Code={"ZipFile": lambda_zip({"app.py": FUNCTION})},
        Environment={"Variables": {guard.ENV: str(tmp_path)}},
    )
    wrong.answer("DescribeEndpoint", _endpoint(EndpointStatus="Terminating"))
    assert _invoke(aws, "guarded", {"url": wrong.url}) == "Terminating"
    [violation] = _wait_for_reports(tmp_path)
    assert (violation["operation"], violation["path"]) == ("DescribeEndpoint", "EndpointStatus")
    assert violation["origin"].startswith("Lambda function guarded (pid ")
    aws.delete_function(FunctionName="guarded")


def test_without_the_opt_in_workers_start_plainly(emulator_factory, lambda_zip, wrong, tmp_path, monkeypatch):
    monkeypatch.delenv(guard.ENV)
    plain = emulator_factory(tmp_path / "home")
    aws = plain.client("lambda")
    aws.create_function(
        FunctionName="plain",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambda",
        Handler="app.call",
        Code={"ZipFile": lambda_zip({"app.py": FUNCTION})},
        Environment={"Variables": {guard.ENV: str(tmp_path / "reports")}},
    )
    (tmp_path / "reports").mkdir()
    wrong.answer("DescribeEndpoint", _endpoint(EndpointStatus="Terminating"))
    assert _invoke(aws, "plain", {"url": wrong.url}) == "Terminating"
    assert list((tmp_path / "reports").iterdir()) == []


def test_the_plugin_fails_the_test_that_broke_the_model(wrong, tmp_path):
    """An inner pytest run with the plugin: the passing test that received a bad response fails, naming
    the operation, the path and the problem; the clean one passes."""
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import boto3

            def client():
                return boto3.client("sagemaker", region_name="us-east-1", endpoint_url="{wrong.url}",
                                    aws_access_key_id="local", aws_secret_access_key="local")

            def test_clean():
                client().list_endpoints()  # answered {{"Endpoints": []}}

            def test_broken():
                client().describe_endpoint(EndpointName="e")
            """
        )
    )
    wrong.answer("DescribeEndpoint", _endpoint(EndpointStatus="Terminating"))
    wrong.answer("ListEndpoints", {"Endpoints": []})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ["PYTHONPATH"]])}
    env.pop(guard.ENV)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the inner run needs no installed plugin but ours
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "model_guard",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_inner.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 1, process.stdout + process.stderr
    assert "1 failed, 1 passed" in process.stdout, process.stdout
    assert "test_inner.py::test_broken (call): 1 botocore model violation(s):" in process.stdout
    assert "sagemaker.DescribeEndpoint response EndpointStatus: 'Terminating' is not one of" in process.stdout
