"""Nothing grows without bound: Kinesis trims records past their retention in the background and
DynamoDB deletes items whose TTL has passed, on an emulator whose AWS day passes in about 4 s."""

from __future__ import annotations

import socket
import sqlite3
import time
import uuid
from collections.abc import Callable

import pytest

from emulator import control
from orchestration.aws import aws_client
from orchestration.settings import Settings

TIME_SCALE = "0.00005"  # 24 h of retention last 4.3 s
DEADLINE_S = 30


@pytest.fixture(scope="module")
def fast_day(tmp_path_factory):
    home = tmp_path_factory.mktemp("growth-home")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RTINFER_TIME_SCALE", TIME_SCALE)
        control.start(port, home)
    settings = Settings(env="local", home=home, emulator_port=port, region="us-east-1")
    yield home, (lambda service: aws_client(service, settings))
    control.stop(home)


def _kept(home, stream: str) -> int:
    with sqlite3.connect(home / "emulator" / "state.db") as conn:
        return conn.execute("SELECT count(*) FROM kinesis_records WHERE stream=?", (stream,)).fetchone()[0]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S}s: {what}")
        time.sleep(0.2)


def test_kinesis_trims_expired_records_in_the_background(fast_day):
    home, client = fast_day
    kinesis = client("kinesis")
    short, week = f"short-{uuid.uuid4().hex[:6]}", f"week-{uuid.uuid4().hex[:6]}"
    for name in (short, week):
        kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.increase_stream_retention_period(StreamName=week, RetentionPeriodHours=168)  # 30 s here
    for name in (short, week):
        records = [{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(50)]
        assert kinesis.put_records(StreamName=name, Records=records)["FailedRecordCount"] == 0
    assert _kept(home, short) == 50
    # no PutRecords after this point: the trimming does not depend on writes arriving
    _wait_for(lambda: _kept(home, short) == 0, "the 24 h stream's records deleted")
    assert _kept(home, week) == 50, "records within their stream's longer retention were deleted"
    shard = kinesis.list_shards(StreamName=short)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=short, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"] == []


def test_dynamodb_deletes_items_whose_ttl_passed_and_nothing_else(fast_day):
    _, client = fast_day
    dynamodb = client("dynamodb")
    table = f"ttl-{uuid.uuid4().hex[:6]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True}
    )
    now = int(time.time())
    soon = now + 3
    items = {
        "past": {"N": str(now - 60)},
        "soon": {"N": str(soon)},
        "future": {"N": str(now + 3600)},
        "millis": {"N": str(now * 1000)},  # not epoch seconds: far in the future, never expires
        "as-string": {"S": str(now - 60)},  # not a Number: ignored
        "ancient": {"N": str(now - 6 * 365 * 86400)},  # more than five years past: ignored
        "nested": {"M": {"expires_at": {"N": str(now - 60)}}},  # not top-level: ignored
    }
    for key, value in items.items():
        attribute = "other" if key == "nested" else "expires_at"
        dynamodb.put_item(TableName=table, Item={"id": {"S": key}, attribute: value})
    dynamodb.put_item(TableName=table, Item={"id": {"S": "no-ttl"}, "x": {"N": "1"}})

    def present(key: str) -> bool:
        return "Item" in dynamodb.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)

    _wait_for(lambda: not present("past"), "the expired item deleted")
    _wait_for(lambda: not present("soon"), "the item expiring in 3 s deleted")
    assert time.time() >= soon, "an item was deleted before its TTL"
    remaining = {item["id"]["S"] for item in dynamodb.scan(TableName=table)["Items"]}
    assert remaining == {"future", "millis", "as-string", "ancient", "nested", "no-ttl"}
