"""serving.consumer.decode: a Kinesis record becomes a validated event or a Rejected with its reason and
enough of the record (payload, stream position) to find and replay it."""

import base64
import json

import pytest

from serving.consumer.decode import Rejected, StreamPosition, decode_record
from serving.schemas import TransactionEvent


def _with_data(records, data: str) -> dict:
    record = records.raw(b"")
    record["kinesis"]["data"] = data
    return record


def test_a_good_record_becomes_its_event(records):
    record = records.event(7, customer="C9", amount=42.5)
    event = decode_record(record)
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
    rejected = decode_record(_with_data(records, data))
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason)
    assert rejected.payload == payload


def test_undecodable_bytes_are_kept_as_their_base64(records):
    record = records.raw(b"\xff\xfe binary")
    rejected = decode_record(record)
    assert base64.b64decode(rejected.payload) == b"\xff\xfe binary"
    assert rejected.position.sequence_number == record["kinesis"]["sequenceNumber"]


def test_a_schema_failure_names_the_field_and_keeps_the_text(records):
    text = json.dumps({**records.payload(1), "amount": "lots"})
    rejected = decode_record(records.raw(text.encode()))
    assert rejected.reason.startswith("schema: field 'amount': must be a number (got 'lots')")
    assert rejected.payload == text


def test_a_record_near_the_kinesis_limit_is_rejected_whole(records):
    # Kinesis caps a record's data at 1 MiB when it is written; decode reads whatever it is given
    text = '{"request_id": "' + "x" * (1024 * 1024 - 40)
    rejected = decode_record(records.raw(text.encode()))
    assert rejected.reason.startswith("not JSON: Unterminated string")
    assert rejected.payload == text


def test_unicode_survives_decoding(records):
    payload = {**records.payload(3), "customer_id": "Zoë-🙂", "device_id": "\u2603"}
    event = decode_record(records.raw(json.dumps(payload, ensure_ascii=False).encode()))
    assert (event.customer_id, event.device_id) == ("Zoë-🙂", "\u2603")
