"""serving.consumer.claim_check: the DLQ message format, decided without any service."""

import json

import pytest

from serving.consumer.claim_check import (
    KEY_PREFIX,
    DeadLetterTarget,
    encode_letter,
    message_size,
    object_key,
    parse_pointer,
    pointer_body,
)

TARGET = DeadLetterTarget("queue-url", "bucket", max_inline_bytes=8192)


def _letter(payload: str, reason: str = "not JSON: Expecting value") -> dict:
    return {"reason": reason, "payload": payload, "shard_id": "shardId-000000000001", "sequence_number": "49"}


def test_a_letter_that_fits_is_sent_as_itself_with_its_reason_beside_it():
    message = encode_letter(_letter("{bad"), TARGET)
    assert message.stored is None and json.loads(message.body) == _letter("{bad")
    assert message.attributes["Reason"] == {"DataType": "String", "StringValue": "not JSON: Expecting value"}
    assert message.size == message_size(message.body, message.attributes) <= TARGET.max_inline_bytes


def test_a_letter_over_the_limit_becomes_a_pointer_to_its_stored_json():
    letter = _letter("p" * 10_000)
    message = encode_letter(letter, TARGET)
    key, data = message.stored
    assert json.loads(data) == letter and key.startswith(f"{KEY_PREFIX}shardId-000000000001/49-")
    assert parse_pointer(message.body) == ("bucket", key)
    assert message.attributes["ExtendedPayloadSize"] == {"DataType": "Number", "StringValue": str(len(data))}
    assert message.attributes["PayloadPrefix"]["StringValue"] == "p" * 1024
    assert message.size < 4096


def test_attributes_are_bounded_and_hold_only_what_sqs_accepts():
    reason = "schema: field 'amount': must be a number (got '" + "\x00" * 2000 + "')"
    message = encode_letter(_letter("\ud800\x07" + "é" * 5000, reason), TARGET)
    shown = message.attributes["Reason"]["StringValue"]
    assert shown.startswith("schema: field 'amount': must be a number (got '\\x00\\x00")
    assert len(shown.encode()) <= 512
    prefix = message.attributes["PayloadPrefix"]["StringValue"]
    assert prefix.startswith("\\xd800\\x07éé") and len(prefix.encode()) <= 1024
    prefix.encode()  # no lone surrogate left: it is valid UTF-8


def test_keys_are_stable_for_a_resent_letter_and_distinct_for_different_ones():
    letter = _letter("a")
    data = json.dumps(letter).encode()
    assert object_key(letter, data) == object_key(dict(letter), data)
    assert object_key(letter, data) != object_key(letter, data + b" ")
    assert object_key({"shard_id": "../x", "sequence_number": ""}, b"").startswith(
        f"{KEY_PREFIX}.._x/no-sequence-"
    )


def test_pointers_of_either_extended_client_class_are_read_and_letters_are_not_pointers():
    assert parse_pointer(pointer_body("b", "k")) == ("b", "k")
    legacy = json.dumps(
        ["com.amazon.sqs.javamessaging.MessageS3Pointer", {"s3BucketName": "b", "s3Key": "k"}]
    )
    assert parse_pointer(legacy) == ("b", "k")
    assert parse_pointer(json.dumps(_letter("x"))) is None
    assert parse_pointer("not json") is None
    assert parse_pointer(json.dumps(["other.Class", {"s3BucketName": "b", "s3Key": "k"}])) is None


def test_an_inline_limit_outside_what_sqs_takes_is_refused_with_its_value():
    with pytest.raises(ValueError, match="max_inline_bytes must be between 4096 and 262144, got 300000"):
        DeadLetterTarget("q", "b", max_inline_bytes=300_000)
