"""Accounting for what came out of the stream path, read from a real DynamoDB table and SQS queue: scans
that page past DynamoDB's 1 MB limit, the account's totals, and waiting for an expected count."""

import threading
import time

import pytest

from orchestration.stream.accounting import (
    ReplayScope,
    StreamAccount,
    read_account,
    scan_all,
    take_baseline,
    wait_until_accounted,
)
from orchestration.stream.stack import ensure_queue, ensure_table
from serving.consumer.sinks import write_predictions


def _predictions(prefix: str, n: int, fallback_every: int = 0, **extra) -> list[dict]:
    return [
        {
            "request_id": f"{prefix}-{i:05d}",
            "fallback": bool(fallback_every) and i % fallback_every == 0,
            "latency_ms": float(i),
            "variant": "blue" if i % 2 else "green",
            "model_version": "v1",
            "predicted_ms": int(time.time() * 1000),
            **extra,
        }
        for i in range(n)
    ]


@pytest.fixture
def table(emulator, request):
    name = "acct-" + request.node.name.removeprefix("test_")[:30].replace("_", "-")
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, name, "request_id")
    return dynamodb, name


def test_scan_all_pages_past_one_megabyte(table):
    dynamodb, name = table
    assert not write_predictions(dynamodb, name, _predictions("big", 150, padding="x" * 10_000))
    first_page = dynamodb.scan(TableName=name)
    assert "LastEvaluatedKey" in first_page  # the table really is bigger than one page
    items = scan_all(dynamodb, name)
    assert len(items) == 150
    assert len({item["request_id"]["S"] for item in items}) == 150


def test_scan_all_follows_many_small_pages_and_passes_scan_arguments(table):
    dynamodb, name = table
    assert not write_predictions(dynamodb, name, _predictions("small", 230))
    items = scan_all(dynamodb, name, Limit=25, ProjectionExpression="request_id")
    assert sorted(item["request_id"]["S"] for item in items) == [f"small-{i:05d}" for i in range(230)]
    assert all(set(item) == {"request_id"} for item in items)


def test_an_account_adds_predictions_fallbacks_and_dead_letters():
    assert StreamAccount(predictions=5, fallbacks=2, dead_lettered=3).accounted == 10
    assert StreamAccount().accounted == 0


def test_read_account_splits_fallbacks_from_predictions_and_counts_the_queue(emulator, table):
    dynamodb, name = table
    sqs = emulator.client("sqs")
    url, _ = ensure_queue(sqs, f"{name}-dlq")
    assert not write_predictions(dynamodb, name, _predictions("r", 10, fallback_every=5))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "bad"} for i in range(3)])
    account = read_account(dynamodb, sqs, name, url)
    assert (account.predictions, account.fallbacks, account.dead_lettered) == (8, 2, 3)
    assert account.accounted == 13
    assert account.fallback_request_ids == {"r-00000", "r-00005"}
    assert len(account.request_ids) == 10
    assert sum(account.variants.values()) == 8  # fallbacks are not counted against a variant
    assert account.model_versions == {"v1": 10}
    assert account.latency(50) == 4.5


def test_wait_until_accounted_returns_once_the_expected_count_arrives(emulator, table):
    dynamodb, name = table
    sqs = emulator.client("sqs")
    url, _ = ensure_queue(sqs, f"{name}-dlq")
    writer_client = emulator.client("dynamodb")

    def produce():
        for chunk in range(4):
            write_predictions(writer_client, name, _predictions(f"w{chunk}", 50))

    writer = threading.Thread(target=produce)
    started = time.monotonic()
    writer.start()
    account = wait_until_accounted(dynamodb, sqs, name, url, expected=200, timeout_s=60, poll_s=0.05)
    writer.join()
    assert account.accounted == 200
    assert time.monotonic() - started < 60


def test_wait_until_accounted_gives_up_at_the_timeout_with_what_it_found(emulator, table):
    dynamodb, name = table
    sqs = emulator.client("sqs")
    url, _ = ensure_queue(sqs, f"{name}-dlq")
    assert not write_predictions(dynamodb, name, _predictions("t", 7))
    started = time.monotonic()
    account = wait_until_accounted(dynamodb, sqs, name, url, expected=8, timeout_s=0.5, poll_s=0.05)
    elapsed = time.monotonic() - started
    # No error on timeout: the caller gets the partial reading and compares it with what it expected.
    assert account.accounted == 7
    assert 0.5 <= elapsed < 10


def test_a_later_replay_waits_for_its_own_records_not_the_earlier_ones(emulator, table):
    dynamodb, name = table
    sqs = emulator.client("sqs")
    url, _ = ensure_queue(sqs, f"{name}-dlq")
    # The first replay left 300 predictions and 4 dead letters behind.
    assert not write_predictions(dynamodb, name, _predictions("first", 300))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "bad"} for i in range(4)])
    time.sleep(0.01)  # the next replay starts strictly later
    before = take_baseline(sqs, url)
    assert before.dead_lettered == 4

    # The second replay sends 100 new records and 20 the first one sent too (a replay of the same
    # transactions overwrites their rows), and one malformed record.
    time.sleep(0.01)
    second = _predictions("second", 100, fallback_every=10) + _predictions("first", 20)
    scope = ReplayScope(before, frozenset(row["request_id"] for row in second))
    writer_client, release = emulator.client("dynamodb"), threading.Event()

    def produce():
        release.wait()
        write_predictions(writer_client, name, second)
        sqs.send_message(QueueUrl=url, MessageBody="bad")

    writer = threading.Thread(target=produce)
    writer.start()
    # Nothing of it is stored yet: counted from zero, 304 >= 121 would end the wait, and the 20 rows
    # whose ids it shares with the first replay are the first replay's.
    early = wait_until_accounted(dynamodb, sqs, name, url, 121, timeout_s=0.3, poll_s=0.05, scope=scope)
    assert early.accounted == 0
    release.set()
    account = wait_until_accounted(dynamodb, sqs, name, url, 121, timeout_s=60, poll_s=0.05, scope=scope)
    writer.join()
    assert (account.predictions, account.fallbacks, account.dead_lettered) == (110, 10, 1)
    assert account.request_ids == scope.request_ids
    assert read_account(dynamodb, sqs, name, url).accounted == 400 + 5  # unscoped: every row, every letter
