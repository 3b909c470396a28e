"""Turn a Kinesis record into its user records' validated events, or into the reasons they are
dead-lettered.

A Kinesis record is either one user record or a KPL aggregate of several (serving/kpl.py); each user
record has its own StreamPosition, the aggregate's sequence number and the user record's
sub-sequence number (0 for a plain record). An aggregate that cannot be unpacked is one rejection.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import NamedTuple

from serving.kpl import DamagedAggregate, deaggregate
from serving.schemas import (
    DEFAULT_MAX_CLOCK_SKEW_MS,
    EventValidationError,
    TransactionEvent,
    clipped,
    validate_event,
)


class StreamPosition(NamedTuple):  # a tuple: one is built for every user record
    sequence_number: str
    partition_key: str
    shard_id: str
    event_source_arn: str
    arrival_ms: int
    sub_sequence_number: int = 0  # the user record's place in its KPL aggregate

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

    def describe(self) -> str:
        """Where the record is, as a reason quotes it."""
        if self.sub_sequence_number:
            return f"sequence number {self.sequence_number} sub-sequence {self.sub_sequence_number}"
        return f"sequence number {self.sequence_number}"


@dataclass(frozen=True, slots=True)
class Rejected:
    payload: str  # the record's data as text when it decodes as UTF-8, else its base64
    reason: str


Decoded = tuple[StreamPosition, TransactionEvent | Rejected]


def undecidable(error: BaseException) -> str:
    """The reason for a record whose handling raised: the exception's class and message."""
    return f"could not be decided: {type(error).__name__}: {clipped(str(error), 300)}"


def decode_record(
    record: dict, now_ms: int, max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS
) -> list[Decoded]:
    """Each user record's position and event, or why it is dead-lettered. Never raises for anything
    the record holds: an event's time is bounded by its arrival (or `now_ms`, when the record carries
    none) plus the allowed clock skew."""
    position = StreamPosition.of(record)
    data = record["kinesis"].get("data", "")
    not_after_ms = (position.arrival_ms or now_ms) + max_clock_skew_ms
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError, TypeError):
        return [(position, Rejected(str(data), "data is not valid base64"))]
    try:
        users = deaggregate(raw)
    except DamagedAggregate as error:
        return [(position, Rejected(data, f"damaged KPL aggregate: {error}"))]
    if users is None:
        return [(position, _decode(raw, not_after_ms))]
    sequence, shard, arn, arrival = (
        position.sequence_number,
        position.shard_id,
        position.event_source_arn,
        position.arrival_ms,
    )
    return [
        (
            StreamPosition(sequence, user.partition_key, shard, arn, arrival, sub),
            _decode(user.data, not_after_ms),
        )
        for sub, user in enumerate(users)
    ]


def _decode(raw: bytes, not_after_ms: int) -> TransactionEvent | Rejected:
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Rejected(_as_text(raw), "data is not UTF-8 text")
        try:
            payload = json.loads(text)
        except ValueError as error:
            return Rejected(text, f"not JSON: {error}")
        try:
            return validate_event(payload, not_after_ms)
        except EventValidationError as error:
            return Rejected(text, f"schema: {error}")
    except Exception as error:  # one record must never fail its batch
        return Rejected(_as_text(raw), undecidable(error))


def _as_text(raw: bytes) -> str:
    """Bytes as a letter carries them: as text when they are UTF-8, else as their base64."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return binascii.b2a_base64(raw, newline=False).decode()
