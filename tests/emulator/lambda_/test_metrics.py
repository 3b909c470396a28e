"""What CloudWatch shows for Lambda, read with plain boto3 as monitoring code does on AWS: AWS/Lambda
metrics per function, IteratorAge of an event-source mapping, and EMF lines turned into metrics."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from botocore.config import Config

from emulator.lambda_.emf import MalformedEmf, parse_line

HANDLERS = """
import json, time

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics()  # namespace and service from POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME


def work(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"


@metrics.log_metrics
def measured(event, context):
    metrics.add_dimension(name="stage", value="test")
    metrics.add_metric(name="RecordsIn", unit=MetricUnit.Count, value=event["records"])
    metrics.add_metric(name="BatchLatency", unit=MetricUnit.Milliseconds, value=12.5)
    metrics.add_metric(name="BatchLatency", unit=MetricUnit.Milliseconds, value=7.5)
    print('{"_aws": {"Timestamp": "yesterday", "CloudWatchMetrics": []}, "x": 1}')  # bad timestamp
    print('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [')  # cut short
    print('{"level": "INFO", "message": "a plain JSON log line"}')
    return "measured"


def consume(event, context):
    return {"batchItemFailures": []}
"""
ROLE = "arn:aws:iam::000000000000:role/lambda"


@pytest.fixture(scope="module")
def aws(emulator):
    return emulator.client("lambda", Config(read_timeout=60, retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def cloudwatch(emulator):
    return emulator.client("cloudwatch")


@pytest.fixture(scope="module")
def make_function(aws, lambda_zip) -> Callable[..., str]:
    package = lambda_zip({"app.py": HANDLERS})

    def create(handler: str, **extra) -> str:
        name = f"metrics-{handler}-{uuid.uuid4().hex[:6]}"
        aws.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler=f"app.{handler}",
            Code={"ZipFile": package},
            **extra,
        )
        return name

    return create


def statistics(cloudwatch, namespace: str, metric: str, dimensions: dict[str, str], *stats: str) -> dict:
    """One datapoint over the last ten minutes (empty when nothing was published)."""
    now = time.time()
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - 600,
        EndTime=now + 60,
        Period=660,
        Statistics=list(stats),
    )
    points = answer["Datapoints"]
    assert len(points) <= 1
    return points[0] if points else {}


def test_invocations_errors_and_durations_per_function(aws, cloudwatch, make_function, wait_for):
    name = make_function("work", Timeout=1)
    events = [{"sleep": 0.05}] * 5 + [{"fail": True}] * 2 + [{"sleep": 3}]  # the last one times out
    for event in events:
        aws.invoke(FunctionName=name, Payload=json.dumps(event))
    function = {"FunctionName": name}

    def invocations() -> float:
        return statistics(cloudwatch, "AWS/Lambda", "Invocations", function, "Sum").get("Sum", 0)

    wait_for(lambda: invocations() == len(events))
    errors = statistics(cloudwatch, "AWS/Lambda", "Errors", function, "Sum", "Average")
    assert errors["Sum"] == 3  # two raised, one timed out
    assert errors["Average"] == pytest.approx(3 / 8)
    assert statistics(cloudwatch, "AWS/Lambda", "Throttles", function, "Sum")["Sum"] == 0
    duration = statistics(cloudwatch, "AWS/Lambda", "Duration", function, "SampleCount", "Minimum", "Maximum")
    assert duration["Unit"] == "Milliseconds"
    assert duration["SampleCount"] == len(events)
    assert duration["Minimum"] < 50  # a failing call returns at once: worker start-up is not counted
    assert 950 <= duration["Maximum"] <= 2000  # the timed-out call lasted its 1 s timeout
    busy = statistics(cloudwatch, "AWS/Lambda", "ConcurrentExecutions", function, "Maximum")
    assert busy["Maximum"] == 1  # called one after another
    listed = cloudwatch.list_metrics(
        Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": name}]
    )
    assert {m["MetricName"] for m in listed["Metrics"]} == {
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
    }


def test_emf_lines_become_metrics_in_their_namespace(emulator, aws, cloudwatch, make_function, wait_for):
    namespace = f"rtinfer-test-{uuid.uuid4().hex[:6]}"
    variables = {"POWERTOOLS_METRICS_NAMESPACE": namespace, "POWERTOOLS_SERVICE_NAME": "fraud-consumer"}
    name = make_function("measured", Timeout=10, Environment={"Variables": variables})
    for records in (500, 250):
        assert json.loads(
            aws.invoke(FunctionName=name, Payload=b'{"records": %d}' % records)["Payload"].read()
        ) == ("measured")
    dims = {"service": "fraud-consumer", "stage": "test"}

    def records_in() -> dict:
        return statistics(cloudwatch, namespace, "RecordsIn", dims, "Sum", "SampleCount")

    wait_for(lambda: records_in().get("SampleCount") == 2)
    assert records_in()["Sum"] == 750
    assert records_in()["Unit"] == "Count"
    latency = statistics(cloudwatch, namespace, "BatchLatency", dims, "SampleCount", "Sum", "Maximum")
    assert (latency["SampleCount"], latency["Sum"], latency["Maximum"]) == (4, 40, 12.5)  # lists of values
    assert latency["Unit"] == "Milliseconds"
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    assert {m["MetricName"] for m in listed} == {"RecordsIn", "BatchLatency"}
    assert all(m["Dimensions"] == [{"Name": k, "Value": v} for k, v in dims.items()] for m in listed)

    url = f"http://127.0.0.1:{emulator.port}/_rtinfer/lambda/functions/{name}"

    def log_stats() -> dict:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["Logs"]

    wait_for(lambda: log_stats()["emf_malformed_lines"] == 4)  # two per invocation; the plain line is not
    assert log_stats()["emf_lines"] == 2
    assert "Timestamp" in log_stats()["emf_last_error"] or "JSON" in log_stats()["emf_last_error"]


def test_event_source_mapping_reports_iterator_age(emulator, aws, cloudwatch, make_function, wait_for):
    kinesis = emulator.client("kinesis")
    name = make_function("consume", Timeout=10)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    kinesis.put_records(StreamName=name, Records=[{"PartitionKey": "k", "Data": b"old"}] * 10)
    time.sleep(1.0)  # these records are at least a second old when the mapping first reads them
    aws.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=name,
        StartingPosition="TRIM_HORIZON",
        BatchSize=5,
        MaximumBatchingWindowInSeconds=0,
    )
    function = {"FunctionName": name}

    def ages() -> dict:
        return statistics(
            cloudwatch, "AWS/Lambda", "IteratorAge", function, "SampleCount", "Minimum", "Maximum"
        )

    wait_for(lambda: ages().get("SampleCount") == 2)  # one per batch of five
    assert ages()["Minimum"] >= 1000
    assert ages()["Unit"] == "Milliseconds"
    assert statistics(cloudwatch, "AWS/Lambda", "Invocations", function, "Sum")["Sum"] == 2


def test_emf_parsing_rules():
    line = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "ns",
                    "Dimensions": [["service"], []],
                    "Metrics": [{"Name": "M", "Unit": "Count"}],
                }
            ],
        },
        "service": "svc",
        "M": [1, 2, 3],
    }
    points = parse_line(json.dumps(line))
    assert [(p.dimensions, p.count, p.total, p.timestamp) for p in points] == [
        ((("service", "svc"),), 3, 6, 1_700_000_000),
        ((), 3, 6, 1_700_000_000),
    ]
    assert parse_line("START RequestId: x") is None
    assert parse_line('{"message": "json, but no _aws"}') is None
    broken = [
        {**line, "M": "three"},  # not a number
        {**line, "service": 7},  # dimension value not a string
        {k: v for k, v in line.items() if k != "M"},  # metric without a value
        {**line, "_aws": {**line["_aws"], "Timestamp": None}},
        {
            **line,
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [{"Namespace": "AWS/Lambda", "Dimensions": [], "Metrics": []}],
            },
        },
        {
            **line,
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {"Namespace": "ns", "Dimensions": [], "Metrics": [{"Name": "M", "Unit": "Parsecs"}]}
                ],
            },
        },
    ]
    for document in broken:
        with pytest.raises(MalformedEmf):
            parse_line(json.dumps(document))
