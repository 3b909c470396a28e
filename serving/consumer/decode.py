"""Turn a Kinesis record into a validated event, or into the reason it is dead-lettered."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from serving.schemas import (
    DEFAULT_MAX_CLOCK_SKEW_MS,
    EventValidationError,
    TransactionEvent,
    clipped,
    validate_event,
)


@dataclass(frozen=True)
class StreamPosition:
    sequence_number: str
    partition_key: str
    shard_id: str
    event_source_arn: str
    arrival_ms: int

    @classmethod
    def of(cls, record: dict) -> StreamPosition:
        kinesis = record["kinesis"]
        return cls(
            sequence_number=kinesis["sequenceNumber"],
            partition_key=kinesis.get("partitionKey", ""),
            shard_id=record.get("eventID", "").split(":")[0],
            event_source_arn=record.get("eventSourceARN", ""),
            arrival_ms=round(float(kinesis.get("approximateArrivalTimestamp", 0)) * 1000),
        )


@dataclass(frozen=True)
class Rejected:
    position: StreamPosition
    payload: str  # the record's data as text when it decodes as UTF-8, else its base64
    reason: str


def undecidable(error: BaseException) -> str:
    """The reason for a record whose handling raised: the exception's class and message."""
    return f"could not be decided: {type(error).__name__}: {clipped(str(error), 300)}"


def decode_record(
    record: dict, now_ms: int, max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS
) -> TransactionEvent | Rejected:
    """The record's event, or why it is dead-lettered. Never raises for anything the record holds:
    the event's time is bounded by its arrival (or `now_ms`, when the record carries none) plus the
    allowed clock skew."""
    position = StreamPosition.of(record)
    data = record["kinesis"].get("data", "")
    try:
        return _decode(data, position, (position.arrival_ms or now_ms) + max_clock_skew_ms)
    except Exception as error:  # one record must never fail its batch
        return Rejected(position, _as_text(data), undecidable(error))


def _as_text(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return data


def _decode(data: str, position: StreamPosition, not_after_ms: int) -> TransactionEvent | Rejected:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return Rejected(position, data, "data is not valid base64")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected(position, data, "data is not UTF-8 text")
    try:
        payload = json.loads(text)
    except ValueError as error:
        return Rejected(position, text, f"not JSON: {error}")
    try:
        return validate_event(payload, not_after_ms)
    except EventValidationError as error:
        return Rejected(position, text, f"schema: {error}")
