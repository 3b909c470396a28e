"""Turn a Kinesis record into a validated event, or into the reason it is dead-lettered."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from serving.schemas import EventValidationError, TransactionEvent, validate_event


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


def decode_record(record: dict) -> TransactionEvent | Rejected:
    position = StreamPosition.of(record)
    data = record["kinesis"].get("data", "")
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
        return validate_event(payload)
    except EventValidationError as error:
        return Rejected(position, text, f"schema: {error}")
