"""FilterCriteria and an S3 on-failure destination on a Kinesis event-source mapping, through real
boto3 and a real function: filtered records never reach the function and still count as processed;
a batch given up is written to the bucket as Lambda writes it, records included."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid

import pytest

HANDLERS = """
import base64, json, os


def collect(event, context):
    with open(os.environ["OUT"], "a") as out:
        for record in event["Records"]:
            out.write(base64.b64decode(record["kinesis"]["data"]).decode() + "\\n")


def fail(event, context):
    raise RuntimeError("always fails")
"""
FILTERS = {
    "Filters": [
        {"Pattern": json.dumps({"data": {"kind": ["payment"], "amount": [{"numeric": [">=", 100]}]}})},
        {"Pattern": json.dumps({"data": {"kind": [{"prefix": "refund"}]}})},
    ]
}


@pytest.fixture(scope="module")
def package(lambda_zip) -> bytes:
    return lambda_zip({"consumer.py": HANDLERS})


@pytest.fixture
def stream_and_function(emulator, package, tmp_path):
    name = f"flt-{uuid.uuid4().hex[:8]}"
    kinesis, lam = emulator.client("kinesis"), emulator.client("lambda")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]

    def function(handler: str) -> str:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/consumer",
            Handler=f"consumer.{handler}",
            Timeout=10,
            Code={"ZipFile": package},
            Environment={"Variables": {"OUT": str(tmp_path / "seen.txt")}},
        )
        return name

    return name, arn, function, tmp_path / "seen.txt"


def _stats(emulator, mapping: str) -> dict:
    url = f"http://127.0.0.1:{emulator.port}/_rtinfer/lambda/event-source-mappings/{mapping}/stats"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _enabled(lam, mapping: str, wait_for) -> None:
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping)["State"] == "Enabled", what="mapping enabled")


def test_only_records_a_filter_matches_reach_the_function(emulator, stream_and_function, wait_for):
    name, arn, function, seen = stream_and_function
    lam, kinesis = emulator.client("lambda"), emulator.client("kinesis")
    function("collect")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=name,
        StartingPosition="TRIM_HORIZON",
        MaximumBatchingWindowInSeconds=0,
        FilterCriteria=FILTERS,
    )
    assert mapping["FilterCriteria"] == FILTERS
    _enabled(lam, mapping["UUID"], wait_for)
    records = [
        {"kind": "payment", "amount": 150, "n": 0},  # filter 1
        {"kind": "payment", "amount": 20, "n": 1},  # too small
        {"kind": "refund-partial", "amount": 5, "n": 2},  # filter 2
        {"kind": "chargeback", "amount": 900, "n": 3},
        "not an object",
    ]
    entries = [{"Data": json.dumps(r).encode(), "PartitionKey": "k"} for r in records]
    entries.append({"Data": b"\x00 not json", "PartitionKey": "k"})
    put = kinesis.put_records(StreamName=name, Records=entries)
    last = put["Records"][-1]["SequenceNumber"]

    def processed() -> bool:  # filtered records are processed too: the checkpoint passes them all
        return _stats(emulator, mapping["UUID"])["checkpoints"].get("shardId-000000000000") == last

    wait_for(processed, what="checkpoint at the last record")
    delivered = [json.loads(line)["n"] for line in seen.read_text().splitlines()]
    assert delivered == [0, 2]
    stats = _stats(emulator, mapping["UUID"])
    assert stats["records_filtered"] == 4 and stats["records_read"] == 6

    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert listed[0]["FilterCriteria"] == FILTERS
    lam.update_event_source_mapping(UUID=mapping["UUID"], FilterCriteria={"Filters": []})
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled")
    assert "FilterCriteria" not in lam.get_event_source_mapping(UUID=mapping["UUID"])


def test_an_invalid_pattern_is_refused_naming_it(emulator, stream_and_function):
    name, arn, function, _ = stream_and_function
    lam = emulator.client("lambda")
    function("collect")
    bad = {"Filters": [{"Pattern": json.dumps({"data": {"kind": [{"numeric": ["~", 1]}]}})}]}
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=r"Filters\[0\]"):
        lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON", FilterCriteria=bad
        )


def test_a_batch_given_up_is_written_to_the_s3_destination(emulator, stream_and_function, wait_for):
    name, arn, function, _ = stream_and_function
    lam, kinesis, s3 = emulator.client("lambda"), emulator.client("kinesis"), emulator.client("s3")
    function("fail")
    bucket = f"failures-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    destination = {"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}}
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=name,
        StartingPosition="TRIM_HORIZON",
        MaximumBatchingWindowInSeconds=1,  # the three records in one batch
        MaximumRetryAttempts=0,
        DestinationConfig=destination,
    )
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["DestinationConfig"] == destination
    _enabled(lam, mapping["UUID"], wait_for)
    put = kinesis.put_records(
        StreamName=name, Records=[{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(3)]
    )
    sequences = [r["SequenceNumber"] for r in put["Records"]]

    keys = wait_for(
        lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
        what="a failure record in the bucket",
    )
    assert len(keys) == 1
    layout = rf"aws/lambda/{mapping['UUID']}/shardId-000000000000/\d{{4}}/\d{{2}}/\d{{2}}/"
    layout += r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}-[0-9a-f-]{36}"
    assert re.fullmatch(layout, keys[0])
    body = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["responseContext"]["functionError"] == "Unhandled"
    info = body["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (sequences[0], sequences[-1])
    assert info["batchSize"] == 3 and info["streamArn"] == arn
    event = json.loads(body["payload"])  # the whole invocation event: metadata and data of each record
    kinesis_records = [record["kinesis"] for record in event["Records"]]
    assert [r["sequenceNumber"] for r in kinesis_records] == sequences
    assert [base64.b64decode(r["data"]) for r in kinesis_records] == [b"r0", b"r1", b"r2"]
    assert [r["partitionKey"] for r in kinesis_records] == ["k0", "k1", "k2"]
    assert all(record["eventSourceARN"] == arn for record in event["Records"])
    assert _stats(emulator, mapping["UUID"])["records_sent_to_destination"] == 3
