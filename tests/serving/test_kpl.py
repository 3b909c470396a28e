"""serving.kpl: the KPL aggregation format, held to AWS's own library (aws-kinesis-agg) both ways."""

import base64
import hashlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.kpl import (
    AGGREGATE_BYTES,
    MAGIC,
    DamagedAggregate,
    UserRecord,
    aggregate,
    deaggregate,
    encode_aggregate,
)

keys = st.text(min_size=1, max_size=40)
user_records = st.lists(st.tuples(keys, st.binary(max_size=300)), min_size=1, max_size=40)


def _hash_key(i: int) -> str | None:
    return str(i * 2**100) if i % 2 else None  # every other record names its hash key


def _library_aggregate(records: list[tuple[str, bytes]]) -> bytes:
    aggregator = RecordAggregator()
    for i, (key, data) in enumerate(records):
        assert aggregator.add_user_record(key, data, _hash_key(i)) is None  # all fit in one aggregate
    return aggregator.clear_and_get().get_contents()[2]


def _library_deaggregate(data: bytes) -> list[tuple[str, bytes, int]]:
    record = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk",
            "sequenceNumber": "1",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 0,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000000:1",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "",
        "awsRegion": "us-east-1",
        "eventSourceARN": "",
    }
    return [
        (
            r["kinesis"]["partitionKey"],
            base64.b64decode(r["kinesis"]["data"]),
            r["kinesis"].get("subSequenceNumber"),
        )
        for r in deaggregate_records([record])
    ]


@settings(max_examples=60, deadline=None)
@given(user_records)
def test_what_the_library_aggregates_deaggregates_here(records):
    unpacked = deaggregate(_library_aggregate(records))
    assert [(r.partition_key, r.data) for r in unpacked] == records
    assert [r.explicit_hash_key for r in unpacked] == [_hash_key(i) for i in range(len(records))]


@settings(max_examples=60, deadline=None)
@given(user_records)
def test_what_is_aggregated_here_the_library_deaggregates(records):
    unpacked = _library_deaggregate(encode_aggregate(records))
    assert [(key, data) for key, data, _ in unpacked] == records
    assert [sub for _, _, sub in unpacked] == list(range(len(records)))


@settings(max_examples=100, deadline=None)
@given(user_records, st.integers(200, 4000), st.integers(1, 50))
def test_aggregating_keeps_every_record_in_order_within_the_limits(records, max_bytes, max_records):
    packed = list(aggregate(records, max_bytes, max_records))
    seen = []
    for key, data, indexes in packed:
        unpacked = deaggregate(data)
        if unpacked is None:  # a plain record: one user record, unchanged
            assert len(indexes) == 1 and (key, data) == records[indexes[0]]
            unpacked = [UserRecord(key, data)]
        else:
            assert 1 < len(indexes) <= max_records
            assert len(data) + len(key.encode()) <= max_bytes  # within the limit it was told
        assert key == unpacked[0].partition_key  # the first user record's key
        assert [(r.partition_key, r.data) for r in unpacked] == [records[i] for i in indexes]
        seen += indexes
    assert seen == list(range(len(records)))


def test_a_full_aggregate_fills_one_put_payload_unit():
    records = [(f"C{i % 50}", b"x" * 200) for i in range(1000)]
    packed = list(aggregate(records))
    sizes = [len(data) + len(key.encode()) for key, data, _ in packed]
    assert max(sizes) <= AGGREGATE_BYTES
    assert min(sizes[:-1]) > AGGREGATE_BYTES - 250  # each one closed only when the next did not fit
    assert len(packed) == 9


def test_a_record_too_big_to_share_goes_plain():
    big = b"{" + b"x" * AGGREGATE_BYTES + b"}"
    packed = list(aggregate([("a", b"1"), ("b", big), ("c", b"3"), ("d", b"4")]))
    assert [(key, indexes) for key, _, indexes in packed] == [("a", [0]), ("b", [1]), ("c", [2, 3])]
    assert packed[1][1] == big


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"request_id": "r1"}',
        MAGIC,
        MAGIC + b"\x00" * 16,  # nothing between the magic and a digest
        MAGIC + b"\x0a\x01a" + b"\x00" * 16,  # a wrong digest
        b"\xf3\x89\x9a\xc3" + encode_aggregate([("a", b"1")])[4:],  # one bit off the magic
    ],
)
def test_data_without_the_magic_or_with_a_wrong_digest_is_a_plain_record(data):
    assert deaggregate(data) is None


def _sealed(message: bytes) -> bytes:
    return MAGIC + message + hashlib.md5(message).digest()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"\x1a\x02\x08\x00", "records[0] has no data"),
        (b"\x1a\x03\x1a\x01x", "records[0] has no partition_key_index"),
        (b"\x0a\x01a\x1a\x05\x08\x01\x1a\x01x", "partition_key_index 1 is past the table of 1 keys"),
        (b"\x0a\x01a\x1a\x07\x08\x00\x10\x00\x1a\x01x", "explicit_hash_key_index 0 is past the table of 0"),
        (b"\x0a\x05a", "field 1 of 5 bytes runs past the end"),
        (b"\x0a\x01\xff", "partition_key_table holds a string that is not UTF-8"),
        (b"\x0a\xff", "a varint runs past the end"),
        (b"\x0b", "field 1 has wire type 3"),
        (b"\x08\x01", "partition_key_table is not length-delimited"),
    ],
)
def test_an_aggregate_whose_contents_cannot_be_read_says_why(message, reason):
    with pytest.raises(DamagedAggregate, match=reason.replace("[", r"\[").replace("]", r"\]")):
        deaggregate(_sealed(message))


def test_unknown_fields_and_tags_are_skipped():
    tag = b"\x22\x05\x0a\x01k\x12\x00"  # Record.tags: Tag{key="k", value=""}
    record = b"\x08\x00\x1a\x02hi" + tag
    message = b"\x0a\x01a" + b"\x1a" + bytes([len(record)]) + record + b"\x78\x05" + b"\x7d\x00\x00\x00\x00"
    assert deaggregate(_sealed(message)) == [UserRecord("a", b"hi")]
