"""The dead-letter queue's message format, with the claim check for letters too big for SQS.

A letter is a JSON object (reason, payload, stream position). When its SQS message would exceed the
target's `max_inline_bytes`, the letter's JSON goes to S3 and the message body is the pointer the SQS
Extended Clients write and read:

    ["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": ..., "s3Key": ...}]

with the message attribute `ExtendedPayloadSize` (the stored object's size in bytes). Those clients
can therefore read our letters, and ours theirs. Every message also carries the reason, shard and
sequence number as message attributes, and a claim-checked one a prefix of the payload, so a person
reading the queue sees what failed and why without opening S3.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

SQS_MAX_MESSAGE_BYTES = 262_144  # 256 KiB: the body-plus-attributes limit both SQS and the emulator hold
MIN_INLINE_BYTES = 4096  # a pointer message with its attributes always fits well below this
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
KEY_PREFIX = "dead-letters/"  # the execution role may write only under this prefix

REASON_ATTRIBUTE = "Reason"
SHARD_ATTRIBUTE = "ShardId"
SEQUENCE_ATTRIBUTE = "SequenceNumber"
PREFIX_ATTRIBUTE = "PayloadPrefix"
_REASON_BYTES = 512
_PREFIX_BYTES = 1024
# What SQS refuses in a string attribute (XML 1.0's excluded characters): shown as \\xNN instead.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class DeadLetterTarget:
    """Where letters go: the queue, the bucket for claim-checked bodies, and the inline size limit."""

    queue_url: str
    bucket: str
    max_inline_bytes: int = SQS_MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if not MIN_INLINE_BYTES <= self.max_inline_bytes <= SQS_MAX_MESSAGE_BYTES:
            raise ValueError(
                f"max_inline_bytes must be between {MIN_INLINE_BYTES} and {SQS_MAX_MESSAGE_BYTES}, "
                f"got {self.max_inline_bytes}"
            )


@dataclass(frozen=True)
class Message:
    """One SQS message for one letter; `stored` is the (key, bytes) to put in S3 first, if any."""

    body: str
    attributes: dict[str, dict]
    sequence_number: str
    stored: tuple[str, bytes] | None = None

    @property
    def size(self) -> int:
        return message_size(self.body, self.attributes)


def message_size(body: str, attributes: dict[str, dict]) -> int:
    """SQS's measure of a message: the body's bytes plus each attribute's name, type and value."""
    return len(body.encode()) + sum(
        len(name.encode()) + len(attribute["DataType"].encode()) + len(attribute["StringValue"].encode())
        for name, attribute in attributes.items()
    )


def _printable(text: str, max_bytes: int) -> str:
    """`text` as SQS accepts it in a string attribute, cut to at most max_bytes of UTF-8."""
    text = _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    data = text.encode("utf-8", "backslashreplace")[:max_bytes]
    return data.decode("utf-8", "ignore")  # a cut through a character drops that character


def _string(value: str) -> dict:
    return {"DataType": "String", "StringValue": value}


def summary_attributes(letter: dict) -> dict[str, dict]:
    """Reason, shard and sequence number as message attributes (empty values are left out: SQS
    refuses them)."""
    values = {
        REASON_ATTRIBUTE: _printable(str(letter.get("reason", "")), _REASON_BYTES),
        SHARD_ATTRIBUTE: _printable(str(letter.get("shard_id", "")), _REASON_BYTES),
        SEQUENCE_ATTRIBUTE: _printable(str(letter.get("sequence_number", "")), _REASON_BYTES),
    }
    return {name: _string(value) for name, value in values.items() if value}


def object_key(letter: dict, data: bytes) -> str:
    """Where a claim-checked letter is stored: by shard and sequence number, plus a digest of the
    content, so a letter sent again on redelivery overwrites its own object and two letters never
    share one."""
    shard = _KEY_UNSAFE.sub("_", str(letter.get("shard_id", ""))) or "no-shard"
    sequence = _KEY_UNSAFE.sub("_", str(letter.get("sequence_number", ""))) or "no-sequence"
    return f"{KEY_PREFIX}{shard}/{sequence}-{hashlib.sha256(data).hexdigest()[:16]}.json"


def pointer_body(bucket: str, key: str) -> str:
    return json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])


def parse_pointer(body: str) -> tuple[str, str] | None:
    """(bucket, key) if `body` is an extended-client pointer (either class name), else None."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] in (POINTER_CLASS, LEGACY_POINTER_CLASS)
        and isinstance(value[1], dict)
        and isinstance(value[1].get("s3BucketName"), str)
        and isinstance(value[1].get("s3Key"), str)
    ):
        return value[1]["s3BucketName"], value[1]["s3Key"]
    return None


def encode_letter(letter: dict, target: DeadLetterTarget) -> Message:
    """The SQS message for `letter`: the letter itself when it fits, else a pointer to its S3 copy."""
    body = json.dumps(letter)
    attributes = summary_attributes(letter)
    sequence = str(letter["sequence_number"])
    if message_size(body, attributes) <= target.max_inline_bytes:
        return Message(body, attributes, sequence)
    data = body.encode()
    key = object_key(letter, data)
    attributes = {
        **attributes,
        PREFIX_ATTRIBUTE: _string(_printable(str(letter.get("payload", "")), _PREFIX_BYTES) or "(empty)"),
        SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(len(data))},
    }
    return Message(pointer_body(target.bucket, key), attributes, sequence, stored=(key, data))
