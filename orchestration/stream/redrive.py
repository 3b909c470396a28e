"""Re-send chosen dead letters to the input stream after a fix, then delete them.

Letters are chosen by reason kind (as the DLQ summary lists them), message id or sequence number.
Each goes back with its original payload bytes and partition key, so a customer's records keep their
order; a letter sent more than once (its record was redelivered) goes back once and all its copies
are deleted. A letter's messages (and its claim-checked body in S3) are deleted only after its
PutRecords entry succeeded; everything else is made visible again. While the run works, the chosen
letters stay hidden from other readers for `visibility_timeout_s`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestration.stream.dead_letters import DeadLetter, DeadLetterUnreadable, read_dead_letter
from orchestration.stream.dlq_summary import reason_kind
from orchestration.stream.queue_scan import delete, receive_all, release
from serving.consumer.retrying import resend_in_chunks

_PUT_RECORDS_ENTRIES = 500
_PUT_RECORDS_BYTES = 5 * 1024 * 1024


class RedriveConfig(BaseModel):
    """Which dead letters to re-send to the input stream; by default only a report (dry run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason_kinds: list[str] = Field(
        default_factory=list,
        description="Re-send letters of these reason kinds, as the dead_letter_summary asset lists them "
        '(e.g. "schema: field \'amount\'", "not JSON")',
    )
    message_ids: list[str] = Field(default_factory=list, description="Re-send these SQS message ids")
    sequence_numbers: list[str] = Field(
        default_factory=list, description="Re-send the letters of these Kinesis sequence numbers"
    )
    all_letters: bool = Field(False, description="Re-send every letter on the queue")
    dry_run: bool = Field(True, description="Only report what would be re-sent; change nothing")
    max_messages: int = Field(10_000, ge=1, le=100_000, description="Read at most this many DLQ messages")
    visibility_timeout_s: int = Field(
        300, ge=30, le=43_200, description="Seconds the letters stay hidden from other readers during the run"
    )

    @model_validator(mode="after")
    def _something_is_chosen(self) -> RedriveConfig:
        if not (self.all_letters or self.reason_kinds or self.message_ids or self.sequence_numbers):
            raise ValueError(
                "choose which letters to re-send: reason_kinds, message_ids, sequence_numbers or all_letters"
            )
        return self

    def chooses(self, letter: DeadLetter) -> bool:
        return (
            self.all_letters
            or reason_kind(letter.reason) in self.reason_kinds
            or letter.message_id in self.message_ids
            or letter.sequence_number in self.sequence_numbers
        )


@dataclass
class RedriveReport:
    dry_run: bool
    scanned_messages: int = 0
    letters: int = 0  # distinct stream positions on the queue
    selected: int = 0
    resendable: int = 0  # selected letters that can go back (a dry run stops here)
    resent: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # sequence number -> why it was not re-sent
    duplicates_deleted: int = 0  # extra messages of re-sent letters
    unreadable: list[str] = field(default_factory=list)
    truncated: bool = False
    not_deleted: list[str] = field(default_factory=list)  # re-sent, but a message or object remains

    @property
    def left(self) -> int:
        """Letters still on the queue after the run."""
        return self.letters - self.resent

    def as_metadata(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "scanned_messages": self.scanned_messages,
            "letters": self.letters,
            "selected": self.selected,
            "resendable": self.resendable,
            "resent": self.resent,
            "failed": len(self.failed),
            "left": self.left,
            "duplicates_deleted": self.duplicates_deleted,
            "unreadable": len(self.unreadable),
            "truncated": self.truncated,
        }


def _stream_of(arn: str) -> str:
    return arn.rsplit(":stream/", 1)[-1] if ":stream/" in arn else ""


def _why_not(letter: DeadLetter, stream: str) -> str | None:
    if not letter.redrivable:
        return "the letter stands for records the stream no longer held: there is no payload to re-send"
    if _stream_of(letter.event_source_arn) not in ("", stream):
        return f"the letter came from stream {_stream_of(letter.event_source_arn)!r}, not {stream!r}"
    if not letter.partition_key:
        return "the letter has no partition key"
    return None


def _put(kinesis, stream: str, entries: list[dict]) -> list[dict]:
    """PutRecords within its limits, resending failed entries; returns the entries never put."""

    def put(chunk: list[dict]) -> list[dict]:
        response = kinesis.put_records(
            StreamName=stream, Records=[{"Data": e["data"], "PartitionKey": e["key"]} for e in chunk]
        )
        if not response.get("FailedRecordCount"):
            return []
        return [e for e, result in zip(chunk, response["Records"], strict=True) if "ErrorCode" in result]

    return resend_in_chunks(
        put, entries, _PUT_RECORDS_ENTRIES, _PUT_RECORDS_BYTES, lambda e: len(e["data"]) + len(e["key"])
    )


def redrive_dead_letters(
    sqs, s3, kinesis, queue_url: str, stream: str, config: RedriveConfig
) -> RedriveReport:
    report = RedriveReport(dry_run=config.dry_run)
    held = receive_all(sqs, queue_url, config.visibility_timeout_s, config.max_messages)
    report.scanned_messages, report.truncated = len(held.messages), held.truncated
    raw = {message["MessageId"]: message for message in held.messages}
    deleted: set[str] = set()
    try:
        copies: dict[tuple[str, str], list[DeadLetter]] = defaultdict(list)
        for message in held.messages:
            try:
                letter = read_dead_letter(message, s3)
            except DeadLetterUnreadable as error:
                report.unreadable.append(str(error))
                continue
            copies[letter.identity].append(letter)
        report.letters = len(copies)
        chosen = [group for group in copies.values() if any(config.chooses(letter) for letter in group)]
        report.selected = len(chosen)
        entries = []
        for group in chosen:
            reason = _why_not(group[0], stream)
            if reason:
                report.failed[group[0].sequence_number] = reason
            else:
                entries.append(
                    {"data": group[0].payload_bytes(), "key": group[0].partition_key, "group": group}
                )
        report.resendable = len(entries)
        if config.dry_run:
            return report
        never = {id(entry) for entry in _put(kinesis, stream, entries)}
        for entry in entries:
            group = entry["group"]
            if id(entry) in never:
                report.failed[group[0].sequence_number] = "PutRecords did not take it"
                continue
            report.resent += 1
            report.duplicates_deleted += len(group) - 1
            messages = [raw[letter.message_id] for letter in group]
            not_deleted = delete(sqs, queue_url, messages)
            deleted |= {letter.message_id for letter in group} - not_deleted
            not_deleted_objects = _delete_objects(s3, group)
            if not_deleted or not_deleted_objects:
                report.not_deleted += sorted(not_deleted) + not_deleted_objects
        return report
    finally:
        release(sqs, queue_url, [m for m in held.messages if m["MessageId"] not in deleted])


def _delete_objects(s3, group: list[DeadLetter]) -> list[str]:
    """Delete a re-sent letter's claim-checked bodies; returns the s3:// URLs of those left (the
    bucket's lifecycle rule expires them)."""
    left = []
    for bucket, key in {letter.stored_at for letter in group if letter.stored_at}:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError):
            left.append(f"s3://{bucket}/{key}")
    return left
