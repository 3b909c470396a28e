"""orchestration.stream.dead_letters: a DLQ message read back into its letter, against the emulator."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS, DeadLetterUnreadable, read_dead_letter
from orchestration.stream.stack import ensure_bucket, ensure_queue
from serving.consumer.claim_check import DeadLetterTarget
from serving.consumer.sinks import send_dead_letters


@pytest.fixture
def dlq(emulator):
    name = f"read-{uuid.uuid4().hex[:8]}"
    url, _ = ensure_queue(emulator.client("sqs"), name)
    ensure_bucket(emulator.client("s3"), name)
    return DeadLetterTarget(url, name)


def _letter(sequence: str, payload: str, reason: str = "not JSON: Expecting value") -> dict:
    return {
        "reason": reason,
        "payload": payload,
        "shard_id": "shardId-000000000000",
        "sequence_number": sequence,
        "partition_key": "C7",
        "event_source_arn": "arn:aws:kinesis:us-east-1:000000000000:stream/in",
    }


def _receive(sqs, url: str) -> list[dict]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **RECEIVE_ARGUMENTS).get("Messages", [])


def test_inline_and_claim_checked_letters_read_back_alike(emulator, dlq):
    sqs, s3 = emulator.client("sqs"), emulator.client("s3")
    before = datetime.now(UTC) - timedelta(seconds=5)
    letters = [_letter("1", "{short"), _letter("2", "{" + "l" * 300_000)]
    assert send_dead_letters(sqs, s3, dlq, letters) == set()
    read = sorted(
        (read_dead_letter(m, s3) for m in _receive(sqs, dlq.queue_url)), key=lambda d: d.sequence_number
    )
    assert [(d.claim_checked, d.payload, d.partition_key) for d in read] == [
        (False, "{short", "C7"),
        (True, letters[1]["payload"], "C7"),
    ]
    for letter in read:
        assert letter.identity == ("shardId-000000000000", letter.sequence_number, 0)
        assert letter.event_source_arn.endswith(":stream/in") and letter.reason.startswith("not JSON")
        assert before <= letter.sent_at <= datetime.now(UTC) and letter.first_received_at >= letter.sent_at
        assert letter.receive_count == 1 and letter.message_id and letter.receipt_handle
        assert letter.redrivable and letter.payload_bytes() == letter.payload.encode()
    assert read[1].stored_at[0] == dlq.bucket and read[0].stored_at is None


def test_a_base64_payload_gives_back_the_original_bytes(emulator, dlq):
    sqs, s3 = emulator.client("sqs"), emulator.client("s3")
    raw = b"\xff\xfe binary"
    letter = _letter("3", base64.b64encode(raw).decode(), reason="data is not UTF-8 text")
    assert send_dead_letters(sqs, s3, dlq, [letter]) == set()
    (message,) = _receive(sqs, dlq.queue_url)
    assert read_dead_letter(message, s3).payload_bytes() == raw


def test_a_claim_check_whose_object_is_gone_is_named_with_its_key(emulator, dlq):
    sqs, s3 = emulator.client("sqs"), emulator.client("s3")
    assert send_dead_letters(sqs, s3, dlq, [_letter("4", "x" * 300_000)]) == set()
    (message,) = _receive(sqs, dlq.queue_url)
    key = json.loads(message["Body"])[1]["s3Key"]
    s3.delete_object(Bucket=dlq.bucket, Key=key)
    with pytest.raises(DeadLetterUnreadable, match=f"s3://{dlq.bucket}/{key} cannot be read") as raised:
        read_dead_letter(message, s3)
    assert raised.value.message_id == message["MessageId"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("plain text", "body is not JSON"),
        ("[1, 2]", "body is a JSON list, not a letter"),
        (json.dumps({"reason": "x"}), "the letter has no payload, sequence_number"),
    ],
)
def test_a_message_that_is_not_a_letter_says_what_is_wrong(emulator, body, problem):
    with pytest.raises(DeadLetterUnreadable, match=f"dead letter m-1: {problem}"):
        read_dead_letter({"MessageId": "m-1", "Body": body}, emulator.client("s3"))


def test_a_claim_checked_body_of_the_wrong_size_is_refused(emulator, dlq):
    s3 = emulator.client("s3")
    s3.put_object(Bucket=dlq.bucket, Key="dead-letters/k", Body=json.dumps(_letter("5", "p")).encode())
    message = {
        "MessageId": "m-2",
        "Body": json.dumps(
            [
                "software.amazon.payloadoffloading.PayloadS3Pointer",
                {"s3BucketName": dlq.bucket, "s3Key": "dead-letters/k"},
            ]
        ),
        "MessageAttributes": {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "1"}},
    }
    with pytest.raises(DeadLetterUnreadable, match="the message says 1"):
        read_dead_letter(message, s3)
    del message["MessageAttributes"]  # without the size attribute the pointer is still followed
    assert read_dead_letter(message, s3).payload == "p"
