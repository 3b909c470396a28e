"""serving.consumer.decode: a Kinesis record becomes a validated event or a Rejected with its reason and
enough of the record (payload, stream position) to find and replay it."""

import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.consumer.decode import Rejected, StreamPosition, decode_record
from serving.kpl import MAGIC, encode_aggregate
from serving.schemas import DEFAULT_MAX_CLOCK_SKEW_MS, TransactionEvent

NOW_MS = 1767607200000  # the factory's records arrived at 2026-01-05T10:00:00Z


def _only(record: dict, now_ms: int, **limits) -> TransactionEvent | Rejected:
    """The outcome of a plain record: exactly one, at sub-sequence 0."""
    ((position, outcome),) = decode_record(record, now_ms, **limits)
    assert position == StreamPosition.of(record)
    return outcome


def _with_data(records, data: str) -> dict:
    record = records.raw(b"")
    record["kinesis"]["data"] = data
    return record


def test_a_good_record_becomes_its_event(records):
    record = records.event(7, customer="C9", amount=42.5)
    event = _only(record, NOW_MS)
    assert isinstance(event, TransactionEvent)
    assert (event.request_id, event.customer_id, event.amount) == ("req-7", "C9", 42.5)


def test_the_stream_position_comes_from_the_record(records):
    record = records.raw(b"{}", partition_key="C5", shard="shardId-000000000003")
    position = StreamPosition.of(record)
    assert position.sequence_number == record["kinesis"]["sequenceNumber"]
    assert (position.partition_key, position.shard_id) == ("C5", "shardId-000000000003")
    assert position.event_source_arn == "arn:aws:kinesis:us-east-1:000000000000:stream/in"
    assert position.arrival_ms == 1767607200000


def test_a_record_without_optional_fields_still_has_a_position(records):
    position = StreamPosition.of({"kinesis": {"sequenceNumber": "49"}})
    assert (position.sequence_number, position.partition_key, position.shard_id, position.arrival_ms) == (
        "49",
        "",
        "",
        0,
    )


_BINARY = base64.b64encode(b"\xff\xfe binary").decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("data", "reason", "payload"),
    [
        ("not base64!", "data is not valid base64", "not base64!"),
        (_BINARY, "data is not UTF-8 text", _BINARY),  # bytes that are not text stay base64
        (_b64("{not json"), "not JSON: Expecting property name", "{not json"),
        (_b64(""), "not JSON: Expecting value", ""),
        (_b64("[1, 2]"), "schema: field '<record>': must be a JSON object (got 'list')", "[1, 2]"),
        (_b64('"text"'), "schema: field '<record>': must be a JSON object (got 'str')", '"text"'),
        (_b64("null"), "schema: field '<record>': must be a JSON object (got 'NoneType')", "null"),
    ],
)
def test_undecodable_data_is_rejected_with_the_reason(records, data, reason, payload):
    rejected = _only(_with_data(records, data), NOW_MS)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason)
    assert rejected.payload == payload


def test_undecodable_bytes_are_kept_as_their_base64(records):
    record = records.raw(b"\xff\xfe binary")
    rejected = _only(record, NOW_MS)
    assert base64.b64decode(rejected.payload) == b"\xff\xfe binary"


def test_a_schema_failure_names_the_field_and_keeps_the_text(records):
    text = json.dumps({**records.payload(1), "amount": "lots"})
    rejected = _only(records.raw(text.encode()), NOW_MS)
    assert rejected.reason.startswith("schema: field 'amount': must be a number (got 'lots')")
    assert rejected.payload == text


def test_a_record_near_the_kinesis_limit_is_rejected_whole(records):
    # Kinesis caps a record's data at 1 MiB when it is written; decode reads whatever it is given
    text = '{"request_id": "' + "x" * (1024 * 1024 - 40)
    rejected = _only(records.raw(text.encode()), NOW_MS)
    assert rejected.reason.startswith("not JSON: Unterminated string")
    assert rejected.payload == text


def test_unicode_survives_decoding(records):
    payload = {**records.payload(3), "customer_id": "Zoë-🙂", "device_id": "\u2603"}
    event = _only(records.raw(json.dumps(payload, ensure_ascii=False).encode()), NOW_MS)
    assert (event.customer_id, event.device_id) == ("Zoë-🙂", "\u2603")


# What the world sends, each with where it must end: the reason names the field (or the failure).
HOSTILE = [
    ("amount", 10**400, "schema: field 'amount': must be between 0.0 and 1000000.0"),
    ("amount", 1e308 * 10, "schema: field 'amount': must be between"),  # inf
    ("amount", 1e-320, "schema: field 'amount': must be 0 or at least 1e-06"),
    ("customer_id", "C" * 129, "schema: field 'customer_id': is longer than 128 characters"),
    ("device_id", "\ud800", "schema: field 'device_id': is not valid Unicode (a lone surrogate)"),
    ("timestamp", "9999-12-31T23:59:59Z", "schema: field 'timestamp': must be between"),
    ("timestamp", "2026-01-05T10:05:01Z", "schema: field 'timestamp': is after 2026-01-05T10:05:00.000Z"),
    ("timestamp", "0001-01-01T00:00:00+01:00", "schema: field 'timestamp': must be between"),
    ("request_id", ["x"] * 100_000, "schema: field 'request_id': must be a non-empty string"),
]


@pytest.mark.parametrize(
    ("field", "value", "reason"), HOSTILE, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(HOSTILE)]
)
def test_out_of_bounds_fields_are_rejected_with_a_short_reason(records, field, value, reason):
    rejected = _only(records.raw(json.dumps({**records.payload(1), field: value}).encode()), NOW_MS)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason)
    assert len(rejected.reason) < 400  # the payload is in the letter; the reason only quotes it


def test_the_clock_skew_bound_is_from_the_arrival_or_now_without_one(records):
    late_by = DEFAULT_MAX_CLOCK_SKEW_MS // 1000
    record = records.raw(json.dumps({**records.payload(1), "timestamp": "2026-01-05T10:05:00Z"}).encode())
    assert isinstance(_only(record, NOW_MS), TransactionEvent)  # exactly at the bound
    del record["kinesis"]["approximateArrivalTimestamp"]
    assert isinstance(_only(record, NOW_MS + 1000), TransactionEvent)
    assert isinstance(_only(record, NOW_MS - 1000), Rejected)
    assert isinstance(_only(record, NOW_MS, max_clock_skew_ms=(late_by - 1) * 1000), Rejected)


def test_a_record_that_breaks_the_decoder_is_rejected_not_raised(records):
    nested = "[" * 200_000 + "]" * 200_000  # json raises RecursionError, not ValueError
    rejected = _only(records.raw(nested.encode()), NOW_MS)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("could not be decided: RecursionError")
    assert rejected.payload == nested


def _aggregated(records, users: list[tuple[str, bytes]]) -> dict:
    return records.raw(encode_aggregate(users), partition_key=users[0][0])


def test_an_aggregate_becomes_its_user_records_each_at_its_own_position(records):
    payloads = [records.payload(i, customer=f"C{i}") for i in range(3)]
    record = _aggregated(records, [(p["customer_id"], json.dumps(p).encode()) for p in payloads])
    decoded = decode_record(record, NOW_MS)
    assert [event.request_id for _, event in decoded] == ["req-0", "req-1", "req-2"]
    outer = StreamPosition.of(record)
    for sub, (position, _) in enumerate(decoded):
        assert position.sequence_number == outer.sequence_number
        assert (position.sub_sequence_number, position.partition_key) == (sub, f"C{sub}")
        assert (position.shard_id, position.arrival_ms) == (outer.shard_id, outer.arrival_ms)


def test_a_bad_user_record_in_an_aggregate_is_rejected_alone(records):
    users = [("C1", json.dumps(records.payload(1)).encode()), ("C2", b"\xff oops"), ("C3", b"{no")]
    decoded = decode_record(_aggregated(records, users), NOW_MS)
    assert isinstance(decoded[0][1], TransactionEvent)
    assert decoded[1][1] == Rejected(base64.b64encode(b"\xff oops").decode(), "data is not UTF-8 text")
    assert (decoded[2][1].payload, decoded[2][0].sub_sequence_number) == ("{no", 2)
    assert decoded[2][1].reason.startswith("not JSON")


def test_a_damaged_aggregate_is_one_rejection_naming_why(records):
    message = b"\x0a\x01a\x1a\x05\x08\x07\x1a\x01x"  # a record pointing past the key table
    data = MAGIC + message + hashlib.md5(message).digest()
    ((position, rejected),) = decode_record(records.raw(data), NOW_MS)
    assert position.sub_sequence_number == 0
    assert rejected.reason == (
        "damaged KPL aggregate: records[0].partition_key_index 7 is past the table of 1 keys"
    )
    assert base64.b64decode(rejected.payload) == data


def test_data_with_the_magic_but_a_wrong_digest_is_a_plain_record(records):
    data = encode_aggregate([("a", b"1"), ("b", b"2")])[:-1] + b"\x00"
    rejected = _only(records.raw(data), NOW_MS)
    assert rejected.reason == "data is not UTF-8 text"  # read as one plain record, as the KPL reads it


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=200) | st.just(b'{"request_id": 1}'), min_size=2, max_size=30))
def test_every_user_record_of_an_aggregate_has_exactly_one_outcome(users):
    factory_record = {
        "kinesis": {
            "sequenceNumber": "7",
            "data": base64.b64encode(encode_aggregate([("k", u) for u in users])),
        },
    }
    factory_record["kinesis"]["data"] = factory_record["kinesis"]["data"].decode()
    decoded = decode_record(factory_record, NOW_MS)
    assert [position.sub_sequence_number for position, _ in decoded] == list(range(len(users)))
    assert all(isinstance(outcome, Rejected) for _, outcome in decoded)
