"""Reading the audit objects: listing from a key or a time, decoding, de-duplication, reading each object
once — against the emulator's S3, with objects written by the consumer's own writer."""

from __future__ import annotations

import gzip
import uuid

import pytest

from orchestration.stream.audit_log import (
    AuditObjectError,
    AuditReader,
    decode_object,
    keys_since,
    list_keys,
    unique_positions,
    unique_requests,
)
from orchestration.stream.stack import ensure_bucket

T = 1_767_607_200_000  # 2026-01-05 10:00 UTC


def _row(request_id: str, sequence: int, arrival_ms: int, shard: str = "shardId-000000000000") -> dict:
    return {
        "request_id": request_id,
        "shard_id": shard,
        "sequence_number": str(sequence),
        "arrival_ms": arrival_ms,
    }


@pytest.fixture
def bucket(emulator):
    s3, name = emulator.client("s3"), f"audit-log-{uuid.uuid4().hex[:8]}"
    ensure_bucket(s3, name)
    return s3, name


def test_keys_list_in_time_order_from_a_key_or_a_time(bucket, store_audit_rows):
    s3, name = bucket
    # written out of order, across an hour: the listing is in arrival order all the same
    late = store_audit_rows(s3, name, [_row("c", 3, T + 3_600_000)])
    early = store_audit_rows(s3, name, [_row("a", 1, T)])
    middle = store_audit_rows(s3, name, [_row("b", 2, T + 60_000)])
    s3.put_object(Bucket=name, Key="elsewhere/not-audit", Body=b"x")  # outside the prefix: never listed
    assert list_keys(s3, name) == early + middle + late
    assert list_keys(s3, name, early[0]) == middle + late  # StartAfter: strictly after
    assert keys_since(s3, name, T + 1) == middle + late
    assert keys_since(s3, name, T + 60_000) == middle + late  # a batch that arrived at that instant
    assert keys_since(s3, name, T + 3_600_001) == []


def test_rows_are_unique_by_position_and_per_request_readers_keep_the_first():
    rows = [_row("r1", 1, T), _row("r2", 2, T), _row("r1", 1, T), _row("r1", 9, T + 5)]
    assert unique_positions(rows) == [rows[0], rows[1], rows[3]]  # the same record twice is one row
    assert unique_requests(rows) == [rows[0], rows[1]]  # a resent request: its first prediction
    # user records of one KPL aggregate share its sequence number: each is a position of its own
    packed = [{**_row(f"u{sub}", 7, T), "sub_sequence_number": sub} for sub in range(3)]
    assert unique_positions(packed) == packed


def test_a_reader_fetches_each_object_once_across_polls(bucket, store_audit_rows):
    s3, name = bucket
    gets = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Key"])
    )
    reader = AuditReader(s3, name)
    first = store_audit_rows(s3, name, [_row("a", 1, T), _row("b", 2, T)])
    assert [row["request_id"] for row in reader.rows_since(T)] == ["a", "b"]
    second = store_audit_rows(s3, name, [_row("b", 2, T + 10), _row("c", 3, T + 10)])  # b again: a retry
    assert [row["request_id"] for _, row in reader.rows_after(None)] == ["a", "b", "c"]
    assert gets == first + second  # the second poll fetched only the new object


def test_an_object_that_is_not_audit_rows_is_refused_naming_its_key():
    with pytest.raises(AuditObjectError, match="k1.*not gzipped JSON Lines"):
        decode_object("k1", gzip.compress(b"{broken\n"))
    with pytest.raises(AuditObjectError, match="k2.*not a prediction"):
        decode_object("k2", gzip.compress(b'{"request_id": "x"}\n'))
    plain = b'{"request_id": "x", "shard_id": "s", "sequence_number": "1"}\n\n'
    assert decode_object("k3", plain) == [{"request_id": "x", "shard_id": "s", "sequence_number": "1"}]
