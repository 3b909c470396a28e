"""The Kinesis event exactly as Lambda delivers it, and the batch-item-failure response it expects back."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from emulator.kinesis.backend import StreamRecord
from emulator.protocol import json_codec

MAX_EVENT_BYTES = 6 * 1024 * 1024  # a batch never exceeds the synchronous invoke payload limit


@dataclass(frozen=True)
class EventRecord:
    """A stream record with its rendering in the event, so batch sizes are known before invoking."""

    record: StreamRecord
    json: str

    @property
    def sequence(self) -> str:
        return self.record.sequence_number


def event_record(record: StreamRecord, stream_arn: str, region: str, identity_arn: str) -> EventRecord:
    body = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": base64.b64encode(record.data).decode(),
            "approximateArrivalTimestamp": record.arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{record.shard_id}:{record.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }
    return EventRecord(record, json_codec.dumps(body))


def event_size(records: list[EventRecord]) -> int:
    return len('{"Records": []}') + sum(len(r.json) + 2 for r in records)


def event_payload(records: list[EventRecord]) -> bytes:
    return ('{"Records": [' + ", ".join(r.json for r in records) + "]}").encode()


class MalformedResponse(ValueError):
    """The function's batchItemFailures cannot be trusted: Lambda then fails the whole batch."""


def first_failure(payload: bytes, records: list[EventRecord]) -> int | None:
    """Index of the lowest reported failure in `records`, or None when the whole batch succeeded.

    Follows Lambda's rules: null, an empty list, or no `batchItemFailures` key mean success; an
    itemIdentifier that is empty or not a sequence number of this batch makes the response malformed.
    """
    try:
        response = json.loads(payload) if payload.strip() else None
    except ValueError:
        return None  # a non-JSON return value is not a partial-failure report: the batch succeeded
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return None
    if not isinstance(failures, list):
        raise MalformedResponse(f"batchItemFailures must be a list, got {failures!r}")
    positions = {r.sequence: i for i, r in enumerate(records)}
    found: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            raise MalformedResponse(f"itemIdentifier {identifier!r} is not a sequence number of this batch")
        found.append(positions[identifier])
    return min(found, key=lambda i: int(records[i].sequence)) if found else None
