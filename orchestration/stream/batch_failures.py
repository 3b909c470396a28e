"""Turn the event-source mapping's batch-failure records into dead letters, while the stream still
holds the records.

When Lambda gives up on a batch (retries exhausted, or its records got too old), the mapping sends
its OnFailure destination a record of the batch's range, not its data:

    {"requestContext": {"condition": "RetryAttemptsExhausted", ...}, "timestamp": ...,
     "KinesisBatchInfo": {"shardId", "startSequenceNumber", "endSequenceNumber", "streamArn",
                          "batchSize", "approximateArrivalOfFirstRecord", ...}}

The records themselves stay on the stream only for its retention period (24 h by default). Collecting
reads them back (GetShardIterator AT_SEQUENCE_NUMBER, GetRecords up to endSequenceNumber) and
dead-letters each one, with its payload and partition key and the reason "batch failure: <condition>",
through the consumer's own letter writer (large ones claim-checked). From then on they are in the
DLQ summary and the redrive job like any letter, for the DLQ's 14 days. Records the stream no longer
holds are said so: one letter with the reason "batch failure: NotRetained: ..." carries the batch
record (not redrivable), so the loss shows in the same summary. A failure record is deleted only once
all its letters were sent.

A failed batch's range may include records the consumer had already written (a batch fails as a
whole); re-sending those is harmless: predictions are keyed by request id and online state skips
events it has already applied, so only the output stream (at-least-once) sees them again.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from orchestration.stream.queue_scan import delete, receive_all, release
from serving.consumer.claim_check import DeadLetterTarget
from serving.consumer.sinks import send_dead_letters
from serving.kpl import DamagedAggregate, deaggregate

_GET_RECORDS_LIMIT = 10_000
_MAX_PAGES = 1000  # a batch is at most 10,000 records; pages may come back empty on a busy shard


class BatchFailureConfig(BaseModel):
    """How the batch-failure records are collected into the DLQ."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = Field(False, description="Only report what the failure queue holds; change nothing")
    max_messages: int = Field(1000, ge=1, le=100_000, description="Read at most this many failure records")
    visibility_timeout_s: int = Field(
        300, ge=30, le=43_200, description="Seconds a failure record stays hidden while it is collected"
    )


class BatchFailureUnreadable(ValueError):
    """A failure-queue message that is not a Kinesis batch-failure record; names what is missing."""


@dataclass(frozen=True)
class KinesisBatchInfo:
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    stream_arn: str
    batch_size: int
    condition: str  # RetryAttemptsExhausted, RecordAgeExceeded, ...
    record: dict  # the whole failure record, as Lambda wrote it

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit(":stream/", 1)[-1]

    def describe(self) -> str:
        return (
            f"{self.batch_size} records of {self.stream_name} {self.shard_id} "
            f"{self.start_sequence_number}..{self.end_sequence_number}"
        )


def parse_batch_failure(body: str) -> KinesisBatchInfo:
    try:
        record = json.loads(body)
        info = record["KinesisBatchInfo"]
        return KinesisBatchInfo(
            shard_id=info["shardId"],
            start_sequence_number=info["startSequenceNumber"],
            end_sequence_number=info["endSequenceNumber"],
            stream_arn=info["streamArn"],
            batch_size=int(info["batchSize"]),
            condition=record.get("requestContext", {}).get("condition", "unknown condition"),
            record=record,
        )
    except ValueError as error:
        raise BatchFailureUnreadable(f"not JSON ({error}): {body[:80]!r}") from None
    except (KeyError, TypeError) as error:
        raise BatchFailureUnreadable(
            f"not a Kinesis batch-failure record: no {error}: {body[:80]!r}"
        ) from None


@dataclass
class BatchRecords:
    info: KinesisBatchInfo
    records: list[dict] = field(default_factory=list)  # GetRecords' records within the range
    missing: str | None = None  # why some or all records cannot be read any more

    @property
    def complete(self) -> bool:
        return self.missing is None


def read_batch_records(kinesis, info: KinesisBatchInfo) -> BatchRecords:
    """The batch's records still on the stream, from startSequenceNumber through endSequenceNumber."""
    found = BatchRecords(info)
    start, end = int(info.start_sequence_number), int(info.end_sequence_number)
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=info.stream_name,
            ShardId=info.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=info.start_sequence_number,
        )["ShardIterator"]
        for _ in range(_MAX_PAGES):
            page = kinesis.get_records(ShardIterator=iterator, Limit=_GET_RECORDS_LIMIT)
            found.records += [r for r in page["Records"] if start <= int(r["SequenceNumber"]) <= end]
            past_end = any(int(r["SequenceNumber"]) > end for r in page["Records"])
            iterator = page.get("NextShardIterator")
            if past_end or not iterator or (not page["Records"] and page.get("MillisBehindLatest", 0) == 0):
                break
    except ClientError as error:
        code = error.response["Error"]["Code"]
        found.missing = (
            f"the stream cannot be read any more ({code}: {error.response['Error'].get('Message')})"
        )
        return found
    first = found.records[0]["SequenceNumber"] if found.records else None
    if first is None or int(first) != start:
        held = len(found.records)
        found.missing = (
            f"the stream no longer holds the batch's first record ({info.start_sequence_number}): "
            f"{held} of {info.batch_size} records are left (past its retention, the stream drops them)"
        )
    return found


def _payload(data: bytes) -> dict:
    try:
        return {"payload": data.decode("utf-8"), "payload_encoding": "text"}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(data).decode(), "payload_encoding": "base64"}


def _user_records(record: dict) -> list[tuple[str, bytes]]:
    """A KPL aggregate's user records (a redrive re-sends each on its own); a plain or damaged one whole."""
    try:
        users = deaggregate(record["Data"])
    except DamagedAggregate:
        users = None
    if users is None:
        return [(record["PartitionKey"], record["Data"])]
    return [(user.partition_key, user.data) for user in users]


def letters_for(batch: BatchRecords) -> list[dict]:
    """One letter per user record read back, plus one that records the loss when some were not."""
    info = batch.info
    letters = [
        {
            "reason": f"batch failure: {info.condition}",
            **_payload(data),
            "shard_id": info.shard_id,
            "sequence_number": record["SequenceNumber"],
            "sub_sequence_number": sub,
            "partition_key": key,
            "event_source_arn": info.stream_arn,
        }
        for record in batch.records
        for sub, (key, data) in enumerate(_user_records(record))
    ]
    if batch.missing:
        letters.append(
            {
                "reason": f"batch failure: NotRetained: {batch.missing}; the batch was {info.describe()}",
                "payload": json.dumps(info.record),
                "payload_encoding": "text",
                "redrivable": False,
                "shard_id": info.shard_id,
                "sequence_number": info.start_sequence_number,
                "partition_key": "",
                "event_source_arn": info.stream_arn,
            }
        )
    return letters


@dataclass
class CollectReport:
    dry_run: bool
    failure_records: int = 0
    collected: int = 0  # failure records turned into letters and deleted
    records_dead_lettered: int = 0
    records_not_retained: int = 0
    batches: list[str] = field(default_factory=list)  # one line per failure record
    unreadable: list[str] = field(default_factory=list)
    not_sent: int = 0  # failure records left on their queue because a letter could not be sent
    truncated: bool = False

    def as_metadata(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "failure_records": self.failure_records,
            "collected": self.collected,
            "records_dead_lettered": self.records_dead_lettered,
            "records_not_retained": self.records_not_retained,
            "not_sent": self.not_sent,
            "unreadable": len(self.unreadable),
            "truncated": self.truncated,
        }


def collect_batch_failures(
    sqs, kinesis, s3, failure_queue_url: str, target: DeadLetterTarget, config: BatchFailureConfig
) -> CollectReport:
    report = CollectReport(dry_run=config.dry_run)
    held = receive_all(sqs, failure_queue_url, config.visibility_timeout_s, config.max_messages)
    report.failure_records, report.truncated = len(held.messages), held.truncated
    done: list[dict] = []
    try:
        for message in held.messages:
            try:
                info = parse_batch_failure(message["Body"])
            except BatchFailureUnreadable as error:
                report.unreadable.append(f"failure record {message['MessageId']}: {error}")
                continue
            batch = read_batch_records(kinesis, info)
            lost = 0 if batch.complete else max(info.batch_size - len(batch.records), 0)
            line = f"{info.condition}: {info.describe()}: {len(batch.records)} read back"
            report.batches.append(line + (f"; {batch.missing}" if batch.missing else ""))
            if config.dry_run:
                continue
            if send_dead_letters(sqs, s3, target, letters_for(batch)):
                report.not_sent += 1
                continue
            done.append(message)
            report.collected += 1
            report.records_dead_lettered += len(batch.records)
            report.records_not_retained += lost
        delete(sqs, failure_queue_url, done)
        return report
    finally:
        release(sqs, failure_queue_url, [m for m in held.messages if m not in done])
