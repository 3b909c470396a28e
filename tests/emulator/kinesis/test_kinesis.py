"""Kinesis through real boto3: MD5 shard routing, sequence numbers, iterators, limits, throttling."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator import control
from emulator.kinesis.backend import KinesisBackend, PutEntry
from emulator.protocol.errors import AwsError
from emulator.state import Database


@pytest.fixture(scope="module")
def kinesis(emulator):
    return emulator.client("kinesis")


@pytest.fixture
def stream(kinesis):
    """A fresh stream per test; call it with a shard count."""

    def create(shards: int = 1) -> str:
        name = f"s-{uuid.uuid4().hex[:10]}"
        kinesis.create_stream(
            StreamName=name, ShardCount=shards, StreamModeDetails={"StreamMode": "PROVISIONED"}
        )
        return name

    return create


def _iterator(kinesis, name: str, kind: str, shard: str = "shardId-000000000000", **extra) -> str:
    return kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType=kind, **extra)[
        "ShardIterator"
    ]


def _data(kinesis, iterator: str, limit: int = 10000) -> list[bytes]:
    return [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, Limit=limit)["Records"]]


def test_partition_keys_map_to_shards_by_md5_hash_range(kinesis, stream):
    name = stream(4)
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-{i:012d}" for i in range(4)]
    assert shards[0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert shards[-1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    ranges = {
        s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in shards
    }
    keys = [f"card-{i}" for i in range(200)]
    result = kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": k} for k in keys])
    assert result["FailedRecordCount"] == 0
    for key, entry in zip(keys, result["Records"], strict=True):
        low, high = ranges[entry["ShardId"]]
        assert low <= int(hashlib.md5(key.encode()).hexdigest(), 16) <= high
    assert {entry["ShardId"] for entry in result["Records"]} == set(ranges)
    explicit = kinesis.put_record(
        StreamName=name, Data=b"e", PartitionKey="any", ExplicitHashKey=str(ranges["shardId-000000000002"][0])
    )
    assert explicit["ShardId"] == "shardId-000000000002"


def test_sequence_numbers_are_56_digit_and_increasing(kinesis, stream):
    name = stream(1)
    sequences = [
        kinesis.put_record(StreamName=name, Data=b"d", PartitionKey="k")["SequenceNumber"] for _ in range(5)
    ]
    assert all(len(s) == 56 and s.isdigit() for s in sequences)
    as_ints = [int(s) for s in sequences]
    assert as_ints == sorted(as_ints) and len(set(as_ints)) == 5
    described = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert described["StreamStatus"] == "ACTIVE" and described["RetentionPeriodHours"] == 24
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 1
    assert name in kinesis.list_streams()["StreamNames"]


def test_iterator_types(kinesis, stream):
    name = stream(1)
    first = [kinesis.put_record(StreamName=name, Data=f"r{i}".encode(), PartitionKey="k") for i in range(3)]
    time.sleep(0.05)
    boundary = time.time()
    time.sleep(0.05)
    for i in (3, 4):
        kinesis.put_record(StreamName=name, Data=f"r{i}".encode(), PartitionKey="k")
    latest = _iterator(kinesis, name, "LATEST")

    assert _data(kinesis, _iterator(kinesis, name, "TRIM_HORIZON")) == [f"r{i}".encode() for i in range(5)]
    at = _iterator(kinesis, name, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=first[1]["SequenceNumber"])
    assert _data(kinesis, at) == [b"r1", b"r2", b"r3", b"r4"]
    after = _iterator(
        kinesis, name, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=first[1]["SequenceNumber"]
    )
    assert _data(kinesis, after) == [b"r2", b"r3", b"r4"]
    assert _data(kinesis, _iterator(kinesis, name, "AT_TIMESTAMP", Timestamp=boundary)) == [b"r3", b"r4"]

    assert _data(kinesis, latest) == []
    kinesis.put_record(StreamName=name, Data=b"r5", PartitionKey="k")
    page = kinesis.get_records(ShardIterator=latest)
    assert [r["Data"] for r in page["Records"]] == [b"r5"]
    assert page["Records"][0]["PartitionKey"] == "k"
    assert page["Records"][0]["ApproximateArrivalTimestamp"].timestamp() == pytest.approx(time.time(), abs=5)
    assert kinesis.get_records(ShardIterator=page["NextShardIterator"])["Records"] == []


def test_paging_with_next_iterator_and_millis_behind_latest(kinesis, stream):
    name = stream(1)
    kinesis.put_records(
        StreamName=name, Records=[{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(5)]
    )
    time.sleep(0.3)
    page = kinesis.get_records(ShardIterator=_iterator(kinesis, name, "TRIM_HORIZON"), Limit=2)
    assert [r["Data"] for r in page["Records"]] == [b"0", b"1"]
    assert page["MillisBehindLatest"] >= 250
    rest = kinesis.get_records(ShardIterator=page["NextShardIterator"], Limit=10)
    assert [r["Data"] for r in rest["Records"]] == [b"2", b"3", b"4"]
    assert rest["MillisBehindLatest"] == 0


def test_put_records_throttles_per_shard_and_resending_failed_entries_succeeds(kinesis, stream):
    name = stream(1)
    payload = b"p" * 4096  # 500 x 4 KiB = 2 MiB, twice the shard's 1 MiB/s
    pending = [{"Data": f"{i:04d}".encode() + payload, "PartitionKey": f"k{i}"} for i in range(500)]
    first = kinesis.put_records(StreamName=name, Records=pending)
    assert 0 < first["FailedRecordCount"] < 500
    failed = [e for e in first["Records"] if "ErrorCode" in e]
    assert {e["ErrorCode"] for e in failed} == {"ProvisionedThroughputExceededException"}
    assert all("SequenceNumber" not in e for e in failed)
    attempts = 1
    while True:
        pending = [r for r, e in zip(pending, first["Records"], strict=True) if "ErrorCode" in e]
        if not pending:
            break
        time.sleep(0.3)
        first = kinesis.put_records(StreamName=name, Records=pending)
        attempts += 1
        assert attempts < 20
    assert attempts > 1
    stored = []
    iterator = _iterator(kinesis, name, "TRIM_HORIZON")
    while True:
        page = kinesis.get_records(ShardIterator=iterator)
        stored += [r["Data"][:4] for r in page["Records"]]
        if not page["Records"]:
            break
        iterator = page["NextShardIterator"]
    assert sorted(stored) == [f"{i:04d}".encode() for i in range(500)]  # each exactly once


def test_record_rate_limit_of_1000_per_second(kinesis, stream):
    name = stream(1)
    records = [{"Data": b"x", "PartitionKey": "k"} for _ in range(500)]
    # 500 records a call against 1000 a second: throttled once the calls outpace the refill, which on
    # a loaded machine (calls of a few hundred ms) may take more than the third call
    counts = [kinesis.put_records(StreamName=name, Records=records)["FailedRecordCount"] for _ in range(10)]
    assert counts[0] == 0 and any(counts[2:]), counts


def test_per_call_limits(emulator, stream):
    raw = emulator.client("kinesis", Config(parameter_validation=False))
    name = stream(2)
    with pytest.raises(ClientError) as too_many:
        raw.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}] * 501)
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(raw.exceptions.InvalidArgumentException) as too_big:
        raw.put_records(StreamName=name, Records=[{"Data": b"x" * (1024 * 1024), "PartitionKey": "k"}])
    assert "Record 0" in too_big.value.response["Error"]["Message"]
    with pytest.raises(raw.exceptions.InvalidArgumentException, match="5 MB"):
        raw.put_records(StreamName=name, Records=[{"Data": b"x" * 1_000_000, "PartitionKey": "k"}] * 6)


def test_list_shards_pages_by_shard_id(kinesis, stream):
    name = stream(5)

    def ids(**params) -> tuple[list[str], str | None]:
        listed = kinesis.list_shards(StreamName=name, **params)
        return [shard["ShardId"] for shard in listed["Shards"]], listed.get("NextToken")

    first, token = ids(MaxResults=2)
    assert first == ["shardId-000000000000", "shardId-000000000001"]
    second, token = ids(MaxResults=2, NextToken=token)
    assert second == ["shardId-000000000002", "shardId-000000000003"]
    assert ids(MaxResults=2, NextToken=token) == (["shardId-000000000004"], None)
    assert ids(ExclusiveStartShardId="shardId-000000000003") == (["shardId-000000000004"], None)


def test_stream_errors(kinesis, stream):
    name = stream(1)
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=name, ShardCount=1)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException, match="no-such-stream"):
        kinesis.put_record(StreamName="no-such-stream", Data=b"x", PartitionKey="k")
    with pytest.raises(kinesis.exceptions.InvalidArgumentException):
        kinesis.get_records(ShardIterator="not-an-iterator")
    with pytest.raises(kinesis.exceptions.InvalidArgumentException, match="retention period"):
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    kinesis.delete_stream(StreamName=name)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_stream_summary(StreamName=name)


def test_streams_and_records_survive_a_restart(tmp_path, emulator_factory):
    first = emulator_factory(tmp_path / "home")
    kinesis = first.client("kinesis")
    kinesis.create_stream(StreamName="kept", ShardCount=2)
    put = kinesis.put_records(
        StreamName="kept", Records=[{"Data": f"{i}".encode(), "PartitionKey": f"k{i}"} for i in range(10)]
    )
    first_shard = put["Records"][0]["ShardId"]
    assert control.stop(first.home)
    second = emulator_factory(first.home)
    kinesis = second.client("kinesis")
    assert len(kinesis.list_shards(StreamName="kept")["Shards"]) == 2
    records = kinesis.get_records(ShardIterator=_iterator(kinesis, "kept", "TRIM_HORIZON", first_shard))[
        "Records"
    ]
    expected = [r["SequenceNumber"] for r in put["Records"] if r["ShardId"] == first_shard]
    assert [r["SequenceNumber"] for r in records] == expected
    after = kinesis.put_record(StreamName="kept", Data=b"more", PartitionKey="k0")
    assert int(after["SequenceNumber"]) > int(put["Records"][0]["SequenceNumber"])


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def backend(tmp_path):
    clock = Clock()
    db = Database(tmp_path / "state.db")
    yield KinesisBackend(db, clock), clock
    db.close()


def test_retention_hides_records_older_than_the_period(backend):
    kinesis, clock = backend
    kinesis.create_stream("r", 1)
    kinesis.put_records("r", [PutEntry(b"old", "k")])
    clock.now += 23 * 3600
    kinesis.put_records("r", [PutEntry(b"new", "k")])
    assert [r.data for r in kinesis.read_shard("r", "shardId-000000000000")] == [b"old", b"new"]
    clock.now += 2 * 3600  # "old" is now 25 h old, past the default 24 h
    assert [r.data for r in kinesis.read_shard("r", "shardId-000000000000")] == [b"new"]
    iterator = kinesis.get_shard_iterator("r", "shardId-000000000000", "TRIM_HORIZON")
    assert [r.data for r in kinesis.get_records(iterator)["Records"]] == [b"new"]
    kinesis.set_retention("r", 48, increase=True)
    assert kinesis.describe_summary("r")["RetentionPeriodHours"] == 48


def test_iterators_expire_after_five_minutes(backend):
    kinesis, clock = backend
    kinesis.create_stream("x", 1)
    iterator = kinesis.get_shard_iterator("x", "shardId-000000000000", "TRIM_HORIZON")
    clock.now += 301
    with pytest.raises(AwsError) as expired:
        kinesis.get_records(iterator)
    assert expired.value.code == "ExpiredIteratorException"


def test_shard_reader_interface_for_the_event_source_mapping(backend):
    kinesis, clock = backend
    kinesis.create_stream("esm", 1)
    shard = kinesis.list_shards("arn:aws:kinesis:us-east-1:000000000000:stream/esm")[0].shard_id
    assert kinesis.latest_sequence("esm", shard) is None
    assert kinesis.read_shard("esm", shard, at="LATEST") == []
    results = kinesis.put_records("esm", [PutEntry(f"{i}".encode(), "k") for i in range(5)])
    assert kinesis.latest_sequence("esm", shard) == results[-1]["SequenceNumber"]
    batch = kinesis.read_shard("esm", shard, limit=2)
    assert [r.data for r in batch] == [b"0", b"1"]
    rest = kinesis.read_shard("esm", shard, after_sequence=batch[-1].sequence_number, limit=10)
    assert [r.data for r in rest] == [b"2", b"3", b"4"]
    assert kinesis.read_shard("esm", shard, at="LATEST") == []
    assert kinesis.stream_arn("esm") == "arn:aws:kinesis:us-east-1:000000000000:stream/esm"


def _kept(tmp_path) -> int:
    with sqlite3.connect(tmp_path / "state.db") as conn:
        return conn.execute("SELECT count(*) FROM kinesis_records").fetchone()[0]


def test_trim_deletes_only_records_past_the_retention_period(backend, tmp_path):
    kinesis, clock = backend
    kinesis.create_stream("t", 2)
    kinesis.put_records("t", [PutEntry(f"old-{i}".encode(), f"k{i}") for i in range(20)])
    clock.now += 12 * 3600
    kinesis.put_records("t", [PutEntry(f"new-{i}".encode(), f"k{i}") for i in range(20)])
    assert kinesis.trim_expired() == 0  # nothing is 24 h old yet
    clock.now += 12 * 3600 + 1
    assert kinesis.trim_expired() == 20
    assert _kept(tmp_path) == 20
    kinesis.set_retention("t", 48, increase=True)  # a longer retention keeps the rest longer
    clock.now += 24 * 3600
    assert kinesis.trim_expired() == 0
    clock.now += 12 * 3600
    assert kinesis.trim_expired() == 20
    assert _kept(tmp_path) == 0


def test_retention_follows_the_time_scale(backend, monkeypatch):
    kinesis, clock = backend
    monkeypatch.setenv("RTINFER_TIME_SCALE", "0.001")  # 24 h pass in 86.4 s
    kinesis.create_stream("s", 1)
    kinesis.put_records("s", [PutEntry(b"x", "k")])
    clock.now += 80
    assert kinesis.trim_expired() == 0
    assert [r.data for r in kinesis.read_shard("s", "shardId-000000000000")] == [b"x"]
    clock.now += 7
    assert kinesis.read_shard("s", "shardId-000000000000") == []
    assert kinesis.trim_expired() == 1
