"""Read one message of the consumer's dead-letter queue back into the letter it carries.

A letter too big for SQS was claim-checked (serving/consumer/claim_check.py): its body is an
extended-client pointer and the letter itself is fetched from S3. Either way the result is the same
DeadLetter, with the SQS message's id, receipt handle and times beside it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from serving.consumer.claim_check import LEGACY_SIZE_ATTRIBUTE, SIZE_ATTRIBUTE, parse_pointer

# What to ask ReceiveMessage for, so read_dead_letter has the times and the claim-check attribute.
RECEIVE_ARGUMENTS = {"MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]}
# The consumer keeps a record's data as base64 when it is not UTF-8 text (serving/consumer/decode.py).
_BASE64_REASONS = ("data is not UTF-8 text", "data is not valid base64")


class DeadLetterUnreadable(ValueError):
    """A DLQ message that is not a letter, or whose claim-checked body cannot be fetched."""

    def __init__(self, message_id: str, problem: str):
        self.message_id = message_id
        super().__init__(f"dead letter {message_id}: {problem}")


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    payload: str
    shard_id: str
    sequence_number: str
    partition_key: str
    event_source_arn: str
    message_id: str
    receipt_handle: str
    sent_at: datetime | None  # when the consumer sent the letter (SQS SentTimestamp)
    first_received_at: datetime | None  # when someone first received it (ApproximateFirstReceiveTimestamp)
    receive_count: int
    claim_checked: bool
    stored_at: tuple[str, str] | None = None  # (bucket, key) of a claim-checked body
    body: dict = field(default_factory=dict, repr=False)  # the letter's JSON object, as written
    sub_sequence_number: int = 0  # the user record's place in its KPL aggregate (0: a plain record)

    @property
    def identity(self) -> tuple[str, str, int]:
        """A record's place in the stream: a letter sent again on redelivery has the same identity."""
        return self.shard_id, self.sequence_number, self.sub_sequence_number

    @property
    def redrivable(self) -> bool:
        """False for letters that stand for records no longer available (they carry no payload)."""
        return bool(self.body.get("redrivable", True))

    def payload_bytes(self) -> bytes:
        """The record's data as it was on the stream."""
        encoding = self.body.get("payload_encoding")
        if encoding == "base64" or (encoding is None and self.reason.startswith(_BASE64_REASONS)):
            try:
                return base64.b64decode(self.payload, validate=True)
            except ValueError:
                return self.payload.encode()  # 'not valid base64' keeps the data as it came
        return self.payload.encode("utf-8", "surrogatepass")


def _time(attributes: dict, name: str) -> datetime | None:
    text = attributes.get(name)
    return datetime.fromtimestamp(int(text) / 1000, UTC) if text else None


def _fetch(s3, message_id: str, bucket: str, key: str, attributes: dict) -> str:
    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (BotoCoreError, ClientError) as error:
        raise DeadLetterUnreadable(
            message_id, f"claim-checked body s3://{bucket}/{key} cannot be read: {error}"
        ) from None
    size = attributes.get(SIZE_ATTRIBUTE) or attributes.get(LEGACY_SIZE_ATTRIBUTE)
    if size and int(size["StringValue"]) != len(data):
        raise DeadLetterUnreadable(
            message_id,
            f"claim-checked body s3://{bucket}/{key} is {len(data)} bytes, "
            f"the message says {size['StringValue']}",
        )
    return data.decode()


def read_dead_letter(message: dict, s3) -> DeadLetter:
    """The letter in a received SQS message (receive it with RECEIVE_ARGUMENTS for times and the
    claim-check attribute); a claim-checked body is fetched from S3."""
    message_id = message.get("MessageId", "?")
    body = message.get("Body", "")
    attributes = message.get("MessageAttributes") or {}
    pointer = parse_pointer(body)
    if pointer is not None:  # a letter is a JSON object, never a list: a pointer is a claim check
        body = _fetch(s3, message_id, *pointer, attributes)
    try:
        letter = json.loads(body)
    except ValueError as error:
        raise DeadLetterUnreadable(message_id, f"body is not JSON ({error}): {body[:80]!r}") from None
    if not isinstance(letter, dict):
        raise DeadLetterUnreadable(message_id, f"body is a JSON {type(letter).__name__}, not a letter")
    missing = [name for name in ("reason", "payload", "sequence_number") if name not in letter]
    if missing:
        raise DeadLetterUnreadable(message_id, f"the letter has no {', '.join(missing)}")
    system = message.get("Attributes") or {}
    return DeadLetter(
        reason=str(letter["reason"]),
        payload=str(letter["payload"]),
        shard_id=str(letter.get("shard_id", "")),
        sequence_number=str(letter["sequence_number"]),
        partition_key=str(letter.get("partition_key", "")),
        event_source_arn=str(letter.get("event_source_arn", "")),
        message_id=message_id,
        receipt_handle=message.get("ReceiptHandle", ""),
        sent_at=_time(system, "SentTimestamp"),
        first_received_at=_time(system, "ApproximateFirstReceiveTimestamp"),
        receive_count=int(system.get("ApproximateReceiveCount", 0)),
        claim_checked=pointer is not None,
        stored_at=pointer,
        body=letter,
        sub_sequence_number=_sub_sequence(message_id, letter.get("sub_sequence_number", 0)),
    )


def _sub_sequence(message_id: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DeadLetterUnreadable(message_id, f"sub_sequence_number is not a count: {value!r}")
    return value
