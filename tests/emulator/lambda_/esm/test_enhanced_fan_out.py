"""An event-source mapping on an enhanced fan-out consumer, through real boto3: records are pushed as
they are put (no poll interval), every record is delivered once, and the event looks like a
shared-throughput mapping's (eventSourceARN is the stream's ARN).

The emulator here polls shared-throughput mappings every POLL_S (RTINFER_ESM_POLL_INTERVAL_S), so a
mapping that polled would take about POLL_S to deliver a record put just after its last read.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest

from emulator.lambda_.esm.shard_poller import POLL_INTERVAL_ENV

POLL_S = 4.0
# Put → function call start, for a record put while the mapping is idle. Generous for a loaded
# machine, and still well under the poll interval.
PUSH_BOUND_S = POLL_S / 4

HANDLER = """
import json, os, time

def record(event, context):
    started = time.time()
    with open(os.environ["OUT"], "a") as out:
        for r in event["Records"]:
            out.write(json.dumps({
                "start": started,
                "arrival": r["kinesis"]["approximateArrivalTimestamp"],
                "data": r["kinesis"]["data"],
                "source": r["eventSourceARN"],
                "event_id": r["eventID"],
            }) + "\\n")
"""


@pytest.fixture
def slow_polling(emulator_factory, tmp_path, monkeypatch):
    monkeypatch.setenv(POLL_INTERVAL_ENV, str(POLL_S))
    return emulator_factory(tmp_path / "home")


def _seen(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _consumer(kinesis, stream_arn: str, wait_for) -> str:
    arn = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="efo")["Consumer"][
        "ConsumerARN"
    ]
    wait_for(
        lambda: (
            kinesis.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]["ConsumerStatus"]
            == "ACTIVE"
        ),
        what="consumer ACTIVE",
    )
    return arn


def test_records_are_pushed_well_under_the_poll_interval_and_each_delivered_once(
    slow_polling, lambda_zip, tmp_path, wait_for
):
    kinesis, aws = slow_polling.client("kinesis"), slow_polling.client("lambda")
    name, out = f"efo-{uuid.uuid4().hex[:8]}", tmp_path / "seen.jsonl"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    stream_arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer_arn = _consumer(kinesis, stream_arn, wait_for)
    aws.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/consumer",
        Handler="consumer.record",
        Code={"ZipFile": lambda_zip({"consumer.py": HANDLER})},
        Environment={"Variables": {"OUT": str(out)}},
    )
    mapping = aws.create_event_source_mapping(
        EventSourceArn=consumer_arn,
        FunctionName=name,
        StartingPosition="LATEST",
        BatchSize=100,
        MaximumBatchingWindowInSeconds=0,
        ParallelizationFactor=2,
    )
    assert mapping["EventSourceArn"] == consumer_arn
    wait_for(lambda: aws.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled")
    listed = aws.list_event_source_mappings(EventSourceArn=consumer_arn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [mapping["UUID"]]

    # warm the function up (its first call starts a worker), then put one record at a time, each
    # just after the previous one was delivered: when a polling reader would have just gone to sleep
    kinesis.put_record(StreamName=name, Data=b"warm", PartitionKey="warm")
    wait_for(lambda: len(_seen(out)) == 1, what="the warm-up record")
    delays = []
    for i in range(6):
        put = time.time()
        kinesis.put_record(StreamName=name, Data=f"one-{i}".encode(), PartitionKey=f"k{i}")
        wait_for(lambda i=i: len(_seen(out)) == i + 2, what=f"record one-{i}")
        delays.append(_seen(out)[-1]["start"] - put)
    assert max(delays) < PUSH_BOUND_S, delays

    # a burst over both shards: every record delivered exactly once, the event names the stream
    sent = [f"burst-{i}".encode() for i in range(400)]
    for start in range(0, len(sent), 200):
        kinesis.put_records(
            StreamName=name,
            Records=[{"Data": data, "PartitionKey": data.decode()} for data in sent[start : start + 200]],
        )
    wait_for(lambda: len(_seen(out)) >= 7 + len(sent), what=lambda: f"{len(_seen(out))} seen")
    seen = _seen(out)
    assert len({row["event_id"] for row in seen}) == len(seen) == 7 + len(sent)
    delivered = {base64.b64decode(row["data"]) for row in seen}
    assert delivered == {b"warm", *(f"one-{i}".encode() for i in range(6)), *sent}
    assert {row["source"] for row in seen} == {stream_arn}
    assert {row["event_id"].split(":")[0] for row in seen} == {"shardId-000000000000", "shardId-000000000001"}


def test_mapping_on_a_consumer_that_does_not_exist_is_refused(emulator, lambda_zip):
    kinesis, aws = emulator.client("kinesis"), emulator.client("lambda")
    name = f"efo-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    aws.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/consumer",
        Handler="consumer.record",
        Code={"ZipFile": lambda_zip({"consumer.py": HANDLER})},
    )
    stream_arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    with pytest.raises(aws.exceptions.InvalidParameterValueException, match="consumer"):
        aws.create_event_source_mapping(
            EventSourceArn=f"{stream_arn}/consumer/never-registered:1700000000",
            FunctionName=name,
            StartingPosition="LATEST",
        )
