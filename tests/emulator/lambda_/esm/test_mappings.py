"""The Kinesis event-source mapping through real boto3: ordering, partial failures, bisect, retries,
the OnFailure destination, checkpoints across a restart, disabling.

The handlers append what they receive to a file named by the OUT variable, one JSON line per call.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

HANDLERS = """
import base64, json, os, time

OUT = os.environ["OUT"]


def _seen(event, started, outcome):
    kin = [r["kinesis"] for r in event["Records"]]
    records = [[k["partitionKey"], k["sequenceNumber"], base64.b64decode(k["data"]).decode()] for k in kin]
    line = {"records": records, "start": started, "end": time.time(), "pid": os.getpid(), "outcome": outcome}
    with open(OUT, "a") as out:
        out.write(json.dumps(line) + "\\n")


def _first_time(name):
    marker = OUT + "." + name
    if os.path.exists(marker):
        return False
    open(marker, "w").close()
    return True


def collect(event, context):
    started = time.time()
    time.sleep(float(os.environ.get("DELAY", "0")))
    _seen(event, started, "ok")


def partial(event, context):
    # the first call reports two failures, out of order; later calls succeed
    started = time.time()
    if _first_time("partial"):
        failed = [r["kinesis"]["sequenceNumber"] for r in event["Records"] if r["kinesis"]["data"] in FAIL]
        _seen(event, started, "partial")
        return {"batchItemFailures": [{"itemIdentifier": s} for s in reversed(failed)]}
    _seen(event, started, "ok")
    return {"batchItemFailures": []}


FAIL = {base64.b64encode(b"r2").decode(), base64.b64encode(b"r4").decode()}


def malformed(event, context):
    started = time.time()
    if _first_time("malformed"):
        _seen(event, started, "malformed")
        return {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}]}
    _seen(event, started, "ok")
    return None


def poison(event, context):
    started = time.time()
    if any(base64.b64decode(r["kinesis"]["data"]) == b"poison" for r in event["Records"]):
        _seen(event, started, "error")
        raise ValueError("poison record")
    _seen(event, started, "ok")
"""


@pytest.fixture(scope="module")
def package(lambda_zip) -> bytes:
    return lambda_zip({"consumer.py": HANDLERS})


class Pipeline:
    """A stream, a function writing what it receives to `out`, and the clients to drive them."""

    def __init__(self, emulator, package: bytes, out: Path, wait_for: Callable[..., Any]) -> None:
        self.emulator = emulator
        self.wait_for = wait_for
        self.aws = emulator.client("lambda")
        self.kinesis = emulator.client("kinesis")
        self.sqs = emulator.client("sqs")
        self.package = package
        self.out = out
        self.name = f"esm-{uuid.uuid4().hex[:8]}"

    def create(
        self, handler: str, shards: int = 1, env: dict[str, str] | None = None, timeout: int = 10
    ) -> None:
        self.kinesis.create_stream(StreamName=self.name, ShardCount=shards)
        self.stream_arn = self.kinesis.describe_stream_summary(StreamName=self.name)[
            "StreamDescriptionSummary"
        ]["StreamARN"]
        self.aws.create_function(
            FunctionName=self.name,
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/consumer",
            Handler=f"consumer.{handler}",
            Timeout=timeout,
            Code={"ZipFile": self.package},
            Environment={"Variables": {"OUT": str(self.out), **(env or {})}},
        )

    def queue(self) -> str:
        url = self.sqs.create_queue(QueueName=f"{self.name}-dlq")["QueueUrl"]
        self.queue_url = url
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def map(self, **settings) -> str:
        settings.setdefault("StartingPosition", "TRIM_HORIZON")
        settings.setdefault("MaximumBatchingWindowInSeconds", 0)
        mapping = self.aws.create_event_source_mapping(
            EventSourceArn=self.stream_arn, FunctionName=self.name, **settings
        )
        self.wait_for(
            lambda: (
                self.aws.get_event_source_mapping(UUID=mapping["UUID"])["State"] in ("Enabled", "Disabled")
            ),
            what="mapping enabled or disabled",
        )
        return mapping["UUID"]

    def put(self, records: list[tuple[str, str]]) -> list[str]:
        entries = [{"PartitionKey": key, "Data": data.encode()} for key, data in records]
        answer = self.kinesis.put_records(StreamName=self.name, Records=entries)
        assert answer["FailedRecordCount"] == 0
        return [r["SequenceNumber"] for r in answer["Records"]]

    def calls(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def delivered(self, outcome: str = "ok") -> list[str]:
        """Data of every record in successful calls, in call order."""
        return [data for call in self.calls() if call["outcome"] == outcome for _, _, data in call["records"]]

    def stats(self, mapping: str) -> dict:
        url = f"http://127.0.0.1:{self.emulator.port}/_rtinfer/lambda/event-source-mappings/{mapping}/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def destination_messages(self, count: int) -> list[dict]:
        messages: list[dict] = []

        def received() -> bool:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            messages.extend(json.loads(m["Body"]) for m in answer.get("Messages", []))
            return len(messages) >= count

        self.wait_for(received, what=f"{count} message(s) on the OnFailure queue")
        return messages


@pytest.fixture
def pipeline(emulator, package, tmp_path, wait_for) -> Pipeline:
    return Pipeline(emulator, package, tmp_path / "calls.jsonl", wait_for)


def test_parallel_batches_keep_per_key_order(pipeline, wait_for):
    pipeline.create("collect", env={"DELAY": "0.05"})
    mapping = pipeline.map(BatchSize=5, ParallelizationFactor=4)
    keys = [f"key-{k}" for k in range(8)]
    sent = [(key, f"{key}:{i}") for i in range(25) for key in keys]
    for start in range(0, len(sent), 100):
        pipeline.put(sent[start : start + 100])
    wait_for(lambda: len(pipeline.delivered()) >= len(sent))

    calls = pipeline.calls()
    assert sorted(pipeline.delivered()) == sorted(data for _, data in sent)  # each record exactly once
    for key in keys:
        received = [int(data.split(":")[1]) for data in pipeline.delivered() if data.startswith(key + ":")]
        assert received == list(range(25)), key
        spans = sorted((c["start"], c["end"]) for c in calls if any(r[0] == key for r in c["records"]))
        assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans)), key
    assert len({c["pid"] for c in calls}) > 1  # batches of the one shard did run concurrently
    assert max(len(c["records"]) for c in calls) <= 5
    stats = pipeline.stats(mapping)
    assert stats["records_read"] == len(sent)
    assert stats["iterator_age_ms"] >= 0 and stats["last_processing_result"] == "OK"


def test_partial_failure_checkpoints_at_the_lowest_failed_record(pipeline, wait_for):
    pipeline.create("partial")
    sequences = pipeline.put([("k", f"r{i}") for i in range(6)])
    pipeline.map(
        BatchSize=10, MaximumBatchingWindowInSeconds=1, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_for(lambda: len(pipeline.delivered()) >= 4)
    first, second = pipeline.calls()[:2]
    assert [r[2] for r in first["records"]] == [f"r{i}" for i in range(6)]
    # r2 and r4 failed (reported as r4, r2): the batch is retried from r2, the lowest sequence number
    assert [r[1] for r in second["records"]] == sequences[2:]
    assert len(pipeline.calls()) == 2


def test_malformed_item_failures_fail_the_whole_batch(pipeline, wait_for):
    pipeline.create("malformed")
    pipeline.put([("k", f"m{i}") for i in range(3)])
    pipeline.map(
        BatchSize=10, MaximumBatchingWindowInSeconds=1, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_for(lambda: len(pipeline.delivered()) >= 3)
    first, second = pipeline.calls()[:2]
    assert first["outcome"] == "malformed"
    assert [r[2] for r in second["records"]] == ["m0", "m1", "m2"]


def test_bisect_isolates_the_poison_record(pipeline, wait_for):
    pipeline.create("poison")
    queue_arn = pipeline.queue()
    data = ["a", "b", "c", "d", "e", "poison", "g", "h"]
    sequences = pipeline.put([("k", d) for d in data])
    pipeline.map(
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    (message,) = pipeline.destination_messages(1)
    info = message["KinesisBatchInfo"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        1,
        sequences[5],
        sequences[5],
    )
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    wait_for(lambda: len(pipeline.delivered()) >= 7)
    assert pipeline.delivered() == [d for d in data if d != "poison"]  # in order, each once


def test_exhausted_retries_send_the_batch_to_the_on_failure_queue(pipeline, wait_for):
    pipeline.create("poison")
    queue_arn = pipeline.queue()
    sequences = pipeline.put([("k", "x"), ("k", "poison"), ("k", "y")])
    mapping = pipeline.map(
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    (message,) = pipeline.destination_messages(1)
    assert message["version"] == "1.0"
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["functionArn"].endswith(f":function:{pipeline.name}")
    assert message["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = message["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000"
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequences[0],
        sequences[2],
        3,
    )
    assert info["streamArn"] == pipeline.stream_arn
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")

    (after,) = pipeline.put([("k", "after")])  # the checkpoint moved past the failed batch
    wait_for(lambda: pipeline.delivered() == ["after"])
    wait_for(lambda: pipeline.stats(mapping)["checkpoints"]["shardId-000000000000"] == after)
    stats = pipeline.stats(mapping)
    assert (stats["invocations"], stats["retries"], stats["records_sent_to_destination"]) == (4, 2, 3)
    assert stats["failed_invocations"] == 3


def test_disabled_mapping_stops_and_latest_skips_older_records(pipeline, wait_for):
    pipeline.create("collect")
    pipeline.put([("k", "before")])
    mapping = pipeline.map(StartingPosition="LATEST")
    pipeline.put([("k", "one")])
    wait_for(lambda: pipeline.delivered() == ["one"])

    updated = pipeline.aws.update_event_source_mapping(UUID=mapping, Enabled=False)
    assert updated["State"] == "Disabling"
    wait_for(lambda: pipeline.aws.get_event_source_mapping(UUID=mapping)["State"] == "Disabled")
    pipeline.put([("k", "two")])
    time.sleep(1.5)
    assert pipeline.delivered() == ["one"]

    pipeline.aws.update_event_source_mapping(UUID=mapping, Enabled=True)
    wait_for(lambda: pipeline.delivered() == ["one", "two"])

    pipeline.aws.delete_event_source_mapping(UUID=mapping)
    wait_for(lambda: _missing(pipeline.aws, mapping))


def test_at_timestamp_starts_at_the_first_record_arrived_since(pipeline, wait_for):
    pipeline.create("collect")
    pipeline.put([("k", "old-1"), ("k", "old-2")])
    time.sleep(0.3)
    since = time.time()
    pipeline.put([("k", "new-1"), ("k", "new-2")])
    pipeline.map(StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=since)
    wait_for(lambda: len(pipeline.delivered()) >= 2)
    time.sleep(0.3)
    assert pipeline.delivered() == ["new-1", "new-2"]


def _missing(aws, mapping: str) -> bool:
    try:
        aws.get_event_source_mapping(UUID=mapping)
    except ClientError as err:
        return err.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def test_mapping_validation_errors(pipeline):
    pipeline.create("collect")
    pipeline.map()
    with pytest.raises(ClientError) as duplicate:
        pipeline.map()
    assert duplicate.value.response["Error"]["Code"] == "ResourceConflictException"
    for settings, field in (
        ({"BatchSize": 20000}, "BatchSize"),
        ({"MaximumRecordAgeInSeconds": 30}, "MaximumRecordAgeInSeconds"),
        ({"ParallelizationFactor": 11}, "ParallelizationFactor"),
        (
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:t"}}},
            "Destination",
        ),
    ):
        with pytest.raises(ClientError) as invalid:
            pipeline.aws.create_event_source_mapping(
                EventSourceArn=pipeline.stream_arn,
                FunctionName=pipeline.name,
                StartingPosition="LATEST",
                **settings,
            )
        assert invalid.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert field in invalid.value.response["Error"]["Message"]


def test_checkpoint_survives_a_restart(tmp_path, emulator_factory, package, wait_for):
    from emulator import control

    home = tmp_path / "home"
    first = emulator_factory(home)
    pipeline = Pipeline(first, package, tmp_path / "calls.jsonl", wait_for)
    pipeline.create("collect")
    mapping = pipeline.map(BatchSize=2)
    pipeline.put([("k", f"a{i}") for i in range(5)])
    wait_for(lambda: len(pipeline.delivered()) == 5)
    wait_for(lambda: pipeline.stats(mapping)["checkpoints"]["shardId-000000000000"] != "")

    assert control.stop(home)
    second = emulator_factory(home, first.port)
    restarted = Pipeline(second, package, pipeline.out, wait_for)
    restarted.name, restarted.stream_arn = pipeline.name, pipeline.stream_arn
    assert restarted.aws.get_event_source_mapping(UUID=mapping)["State"] in (
        "Creating",
        "Enabling",
        "Enabled",
    )
    restarted.put([("k", f"b{i}") for i in range(3)])
    wait_for(lambda: len(restarted.delivered()) == 8)
    time.sleep(0.5)
    assert restarted.delivered() == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(3)]
