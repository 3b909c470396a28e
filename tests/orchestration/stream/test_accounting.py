"""Accounting for what came out of the stream path, read from real audit objects (S3) and a real SQS
queue: the account's totals, one count per stream position, waiting for an expected count, and a
replay's scope found by listing from its start."""

import threading
import time
import uuid
from itertools import count

import pytest

from orchestration.stream.accounting import (
    CLOCK_SLACK_MS,
    ReplayScope,
    StreamAccount,
    count_stored,
    read_account,
    take_baseline,
    wait_until_accounted,
)
from orchestration.stream.stack import ensure_bucket, ensure_queue
from serving.consumer.audit import audit_key
from serving.consumer.decode import StreamPosition

_SEQUENCE = count(49_000_000_000_000_000_000)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _predictions(prefix: str, n: int, fallback_every: int = 0, arrival_ms: int | None = None) -> list[dict]:
    arrival_ms = arrival_ms or _now_ms()
    return [
        {
            "request_id": f"{prefix}-{i:05d}",
            "shard_id": "shardId-000000000000",
            "sequence_number": str(next(_SEQUENCE)),
            "arrival_ms": arrival_ms,
            "fallback": bool(fallback_every) and i % fallback_every == 0,
            "latency_ms": float(i),
            "variant": None
            if bool(fallback_every) and i % fallback_every == 0
            else ("blue" if i % 2 else "green"),
            "model_version": "v1",
            "predicted_ms": _now_ms(),
        }
        for i in range(n)
    ]


@pytest.fixture
def world(emulator):
    name = f"acct-{uuid.uuid4().hex[:8]}"
    s3, sqs = emulator.client("s3"), emulator.client("sqs")
    ensure_bucket(s3, name)
    url, _ = ensure_queue(sqs, f"{name}-dlq")
    return s3, sqs, name, url


def test_an_account_adds_predictions_fallbacks_and_dead_letters():
    assert StreamAccount(predictions=5, fallbacks=2, dead_lettered=3).accounted == 10
    assert StreamAccount().accounted == 0


def test_read_account_splits_fallbacks_from_predictions_and_counts_the_queue(world, store_audit_rows):
    s3, sqs, bucket, url = world
    store_audit_rows(s3, bucket, _predictions("r", 10, fallback_every=5), per_object=4)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "bad"} for i in range(3)])
    account = read_account(s3, sqs, bucket, url)
    assert (account.predictions, account.fallbacks, account.dead_lettered) == (8, 2, 3)
    assert account.accounted == 13
    assert account.fallback_request_ids == {"r-00000", "r-00005"}
    assert len(account.request_ids) == 10
    assert sum(account.variants.values()) == 8  # fallbacks are not counted against a variant
    assert account.model_versions == {"v1": 10}
    assert account.latency(50) == 4.5
    assert count_stored(s3, bucket) == 10


def test_a_record_in_two_objects_is_counted_once(world, store_audit_rows):
    """A timed-out invocation's late put and its retry's can both land: the same stream positions."""
    s3, sqs, bucket, url = world
    rows = _predictions("twice", 30)
    store_audit_rows(s3, bucket, rows, per_object=30)  # the timed-out attempt's object: the whole batch
    store_audit_rows(s3, bucket, rows[:10], per_object=10)  # its retry, split after a partial failure...
    store_audit_rows(s3, bucket, rows[10:], per_object=20)  # ...and the rest
    assert read_account(s3, sqs, bucket, url).predictions == 30
    assert count_stored(s3, bucket) == 30


def test_wait_until_accounted_returns_once_the_expected_count_arrives(emulator, world, store_audit_rows):
    s3, sqs, bucket, url = world
    writer_client = emulator.client("s3")

    def produce():
        for chunk in range(4):
            store_audit_rows(writer_client, bucket, _predictions(f"w{chunk}", 50), per_object=25)

    writer = threading.Thread(target=produce)
    started = time.monotonic()
    writer.start()
    account = wait_until_accounted(s3, sqs, bucket, url, expected=200, timeout_s=60, poll_s=0.05)
    writer.join()
    assert account.accounted == 200
    assert time.monotonic() - started < 60


def test_wait_until_accounted_gives_up_at_the_timeout_with_what_it_found(world, store_audit_rows):
    s3, sqs, bucket, url = world
    store_audit_rows(s3, bucket, _predictions("t", 7))
    started = time.monotonic()
    account = wait_until_accounted(s3, sqs, bucket, url, expected=8, timeout_s=0.5, poll_s=0.05)
    elapsed = time.monotonic() - started
    # No error on timeout: the caller gets the partial reading and compares it with what it expected.
    assert account.accounted == 7
    assert 0.5 <= elapsed < 10


def test_a_later_replay_waits_for_its_own_records_and_lists_only_since_it_started(
    emulator, world, store_audit_rows
):
    s3, sqs, bucket, url = world
    # The first replay left 300 predictions and 4 dead letters behind; long before, someone left an
    # object no reader can parse: a replay's polls never list that far back, so they never meet it.
    s3.put_object(
        Bucket=bucket,
        Key=audit_key(StreamPosition("1", "pk", "s", "arn", 1_600_000_000_000), "1", 1),
        Body=b"?",
    )
    store_audit_rows(s3, bucket, _predictions("first", 300))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "bad"} for i in range(4)])
    time.sleep(0.01)  # the next replay starts strictly later
    before = take_baseline(sqs, url)
    assert before.dead_lettered == 4

    # The second replay sends 100 new records and 20 the first one sent too (new stream positions, a
    # later prediction), and one malformed record.
    time.sleep(0.01)
    second = _predictions("second", 100, fallback_every=10) + _predictions("first", 20)
    scope = ReplayScope(before, frozenset(row["request_id"] for row in second))
    writer_client, release = emulator.client("s3"), threading.Event()

    def produce():
        release.wait()
        store_audit_rows(writer_client, bucket, second)
        sqs.send_message(QueueUrl=url, MessageBody="bad")

    writer = threading.Thread(target=produce)
    writer.start()
    # Nothing of it is stored yet: counted from zero, 304 >= 121 would end the wait, and the 20 rows
    # whose ids it shares with the first replay are the first replay's.
    early = wait_until_accounted(s3, sqs, bucket, url, 121, timeout_s=0.3, poll_s=0.05, scope=scope)
    assert early.accounted == 0
    release.set()
    account = wait_until_accounted(s3, sqs, bucket, url, 121, timeout_s=60, poll_s=0.05, scope=scope)
    writer.join()
    assert (account.predictions, account.fallbacks, account.dead_lettered) == (110, 10, 1)
    assert account.request_ids == scope.request_ids
    since = before.started_ms - CLOCK_SLACK_MS
    assert read_account(s3, sqs, bucket, url, since_ms=since).accounted == 420 + 5  # every record, letter
    assert count_stored(s3, bucket, since_ms=before.started_ms) == 120
