"""The audit trail: one object per batch, keyed by the records it holds, holding only what is durably done.

Lambda checkpoints below the lowest failed record and redelivers from it, later records included
(`deliver` does what the event-source mapping does); the tests prove each record ends in exactly one
object or one letter, whatever fails on the way.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.stream.audit_log import AuditReader, position
from serving.consumer.audit import CONTENT_TYPE, ROW_FIELDS, audit_key, key_arrival_ms, time_key
from serving.consumer.decode import StreamPosition
from serving.consumer.pipeline import process_batch
from serving.consumer.state_store import customer_key


def deliver(batch: list[dict], config, clients, scorer, attempts: int = 6) -> list:
    """Invoke until nothing fails, retrying from the lowest failed record as Lambda does."""
    outcomes = []
    for _ in range(attempts):
        outcome = process_batch(batch, config, clients, scorer)
        outcomes.append(outcome)
        if not outcome.failed_sequences:
            return outcomes
        lowest = min(map(int, outcome.failed_sequences))
        batch = [r for r in batch if int(r["kinesis"]["sequenceNumber"]) >= lowest]
    raise AssertionError(f"still failing after {attempts} deliveries: {outcomes[-1].failed_sequences}")


def _positions(audit_objects, bucket: str) -> Counter:
    return Counter(row["sequence_number"] for rows in audit_objects(bucket).values() for row in rows)


def _sequence(record: dict) -> str:
    return record["kinesis"]["sequenceNumber"]


def test_a_batch_is_one_gzipped_json_lines_object_under_its_first_records_key(
    clients, consumer_config, records, make_scorer
):
    batch = [records.raw(b"{not json")] + [records.event(i, customer=f"K{i % 2}") for i in range(5)]
    process_batch(batch, consumer_config, clients, make_scorer())

    first = StreamPosition.of(batch[0])  # a dead letter: the key still starts at the batch's first record
    key = audit_key(first, _sequence(batch[-1]), 5)
    assert key == (
        f"predictions/dt=2026-01-05/hour=10/{first.arrival_ms:013d}-shardId-000000000000-{first.sequence_number}"
        f"-{_sequence(batch[-1])}-5"
    )
    listed = clients.s3.list_objects_v2(Bucket=consumer_config.audit_bucket)["Contents"]
    assert [entry["Key"] for entry in listed] == [key]
    stored = clients.s3.get_object(Bucket=consumer_config.audit_bucket, Key=key)
    assert stored["ContentType"] == CONTENT_TYPE
    rows = [json.loads(line) for line in gzip.decompress(stored["Body"].read()).decode().splitlines()]
    assert [row["request_id"] for row in rows] == [f"req-{i}" for i in range(5)]
    assert set(rows[0]) == {
        "request_id",
        "customer_id",
        "terminal_id",
        "amount",
        "event_ms",
        "arrival_ms",
        "predicted_ms",
        "latency_ms",
        "shard_id",
        "sequence_number",
        "sub_sequence_number",
        "score",
        "decision",
        "threshold",
        "model_version",
        "variant",
        "fallback",
        "fallback_reason",
        "inference_id",
        "inference_row",
    }  # retention is the bucket's lifecycle rule: no expires_at
    assert set(ROW_FIELDS) == set(rows[0]) - {"inference_id", "inference_row"}  # what readers expect


def test_keys_sort_by_arrival_and_a_time_key_is_below_every_key_of_that_time():
    def key(arrival_ms: int, shard: str = "shardId-000000000001", sequence: str = "9" * 56) -> str:
        return audit_key(StreamPosition(sequence, "pk", shard, "arn", arrival_ms), sequence, 1)

    # across an hour and a day boundary, and from 999 ms to 1000 ms (the zero padding)
    times = [999, 1000, 3_599_999, 3_600_000, 86_399_999, 86_400_000, 1_767_607_200_000]
    keys = [key(t) for t in times]
    assert keys == sorted(keys)
    for t, k in zip(times, keys, strict=True):
        assert time_key(t) < k < time_key(t + 1)
        assert key_arrival_ms(k) == t
    with pytest.raises(ValueError, match="not an audit object key"):
        key_arrival_ms("predictions/dt=2026-01-05/hour=10/notatime-s-1")


def test_a_redelivered_batch_overwrites_its_own_object(
    clients, consumer_config, records, make_scorer, audit_objects
):
    batch = [records.event(i, customer="K-again") for i in range(8)]
    process_batch(batch, consumer_config, clients, make_scorer())
    process_batch(batch, consumer_config, clients, make_scorer())  # e.g. the response was lost
    objects = audit_objects(consumer_config.audit_bucket)
    assert len(objects) == 1
    assert _positions(audit_objects, consumer_config.audit_bucket) == Counter(
        r["kinesis"]["sequenceNumber"] for r in batch
    )


def test_a_redelivery_that_gathered_more_records_is_read_by_a_reader_that_read_the_first(
    clients, consumer_config, records, make_scorer
):
    # The first delivery stored its object but its invocation never finished (the emulator or the
    # worker stopped); by the redelivery the shard held more, so the batch from the same first record
    # is bigger. A reader that read the first object must still find every record.
    batch = [records.event(i, customer=f"K{i % 3}") for i in range(9)]
    reader = AuditReader(clients.s3, consumer_config.audit_bucket)
    process_batch(batch[:4], consumer_config, clients, make_scorer())
    assert len(reader.rows_after(None)) == 4
    process_batch(batch, consumer_config, clients, make_scorer())
    rows = reader.rows_after(None)
    assert sorted(position(row)[1:] for _, row in rows) == sorted((_sequence(record), 0) for record in batch)
    assert [row["request_id"] for _, row in rows] == [f"req-{i}" for i in range(9)]


# Each delivery: how many records from the checkpoint on the mapping hands over (what the shard held
# by then), and whether the invocation finished; one that did not has stored its object all the same.
_deliveries = st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=1, max_size=6)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=_deliveries)
def test_a_reader_polling_between_any_redeliveries_finds_every_record(
    clients, consumer_config, records, make_scorer, deliveries
):
    config = dataclasses.replace(consumer_config, audit_bucket=f"audit-{uuid.uuid4().hex[:12]}")
    clients.s3.create_bucket(Bucket=config.audit_bucket)
    customer = f"K-{uuid.uuid4().hex[:8]}"
    shard = [records.event(i, customer=customer) for i in range(10)]
    reader, checkpoint = AuditReader(clients.s3, config.audit_bucket), 0
    for taken, finished in [*deliveries, (len(shard), True)]:  # the last one drains the shard
        batch = shard[checkpoint : checkpoint + taken]
        if not batch:
            break
        assert not process_batch(batch, config, clients, make_scorer()).failed_sequences
        if finished:
            checkpoint += len(batch)
        reader.rows_after(None)  # a poll between deliveries, as the accounting and the A/B cursor do
    held = sorted(position(row)[1:] for _, row in reader.rows_after(None))
    assert held == sorted((_sequence(record), 0) for record in shard)


def test_a_batch_of_only_dead_letters_writes_no_object(clients, consumer_config, records, make_scorer):
    letters_only = [records.raw(b"{oops"), records.raw(b"\xff")]
    outcome = process_batch(letters_only, consumer_config, clients, make_scorer())
    assert outcome.failed_sequences == set() and outcome.dead_lettered == 2
    assert clients.s3.list_objects_v2(Bucket=consumer_config.audit_bucket)["KeyCount"] == 0


def test_when_the_audit_put_fails_every_prediction_is_redelivered_and_lands_once(
    clients, consumer_config, records, make_scorer, audit_objects, dead_letters
):
    batch = [records.event(i, customer=f"K{i % 3}") for i in range(12)]
    batch.insert(0, records.raw(b"{poison"))
    unwritable = dataclasses.replace(consumer_config, audit_bucket=f"{consumer_config.audit_bucket}-gone")
    outcome = process_batch(batch, unwritable, clients, make_scorer())
    predicted = {r["kinesis"]["sequenceNumber"] for r in batch[1:]}
    assert outcome.failed_sequences == predicted  # every prediction, and only those
    assert clients.s3.list_objects_v2(Bucket=consumer_config.audit_bucket)["KeyCount"] == 0

    # Lambda retries from the lowest failure (the first prediction); the bucket is reachable again
    deliver(batch[1:], consumer_config, clients, make_scorer())
    assert _positions(audit_objects, consumer_config.audit_bucket) == Counter(predicted)
    letters = dead_letters(consumer_config.dead_letter_queue_url)
    # the poison record is below the lowest failure: Lambda does not redeliver it, its letter is sent once
    assert [letter["sequence_number"] for letter in letters] == [batch[0]["kinesis"]["sequenceNumber"]]
    assert list(audit_objects(consumer_config.audit_bucket)) == [
        audit_key(StreamPosition.of(batch[1]), _sequence(batch[-1]), 12)
    ]


@pytest.fixture
def refusing_customer(emulator, clients):
    """`refusing_customer(customer_id)`: the clients, with a DynamoDB client on which that customer's
    state item is left unprocessed by every BatchWriteItem (as DynamoDB may leave any item), through
    botocore's own event hooks."""

    def make(customer_id: str):
        victim = customer_key(customer_id)["pk"]
        dynamodb = emulator.client("dynamodb")
        held: list[tuple[str, dict]] = []

        def drop(params, **_):
            for table, requests in params["RequestItems"].items():
                held.extend((table, r) for r in requests if r["PutRequest"]["Item"].get("pk") == victim)
                params["RequestItems"][table] = [
                    r for r in requests if r["PutRequest"]["Item"].get("pk") != victim
                ]

        def report(parsed, **_):
            for table, request in held:
                parsed.setdefault("UnprocessedItems", {}).setdefault(table, []).append(request)
            held.clear()

        dynamodb.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", drop)
        dynamodb.meta.events.register("after-call.dynamodb.BatchWriteItem", report)
        return dataclasses.replace(clients, dynamodb=dynamodb)

    return make


def test_a_state_write_failing_for_one_customer_mid_batch_splits_the_batch_at_it(
    clients, consumer_config, records, make_scorer, audit_objects, refusing_customer
):
    batch = [records.event(i, customer="K-stuck" if i == 5 else f"K{i % 2}") for i in range(10)]
    first = process_batch(batch, consumer_config, refusing_customer("K-stuck"), make_scorer())
    # the stuck record failed; the later ones are not in this batch's object, so they fail too
    assert first.failed_sequences == {r["kinesis"]["sequenceNumber"] for r in batch[5:]}
    objects = audit_objects(consumer_config.audit_bucket)
    head = audit_key(StreamPosition.of(batch[0]), _sequence(batch[4]), 5)
    assert list(objects) == [head]
    assert [row["request_id"] for row in objects[head]] == [f"req-{i}" for i in range(5)]

    deliver(batch[5:], consumer_config, clients, make_scorer())  # the retry, from the stuck record on
    objects = audit_objects(consumer_config.audit_bucket)
    assert list(objects) == [head, audit_key(StreamPosition.of(batch[5]), _sequence(batch[9]), 5)]
    assert _positions(audit_objects, consumer_config.audit_bucket) == Counter(
        r["kinesis"]["sequenceNumber"] for r in batch
    )
