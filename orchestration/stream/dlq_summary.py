"""What the consumer's dead-letter queue holds, by kind of reason, read without consuming it.

A reason's kind is its stable prefix: "not JSON: Expecting value: line 1 column 2 (char 1)" is
"not JSON", "schema: field 'amount': must be a number (got 'lots')" is "schema: field 'amount'",
"batch failure: RetryAttemptsExhausted" stays whole. Letters are counted once per stream position
(shard, sequence number, sub-sequence number within a KPL aggregate): a letter sent again when its
record was redelivered is a duplicate message, not a second letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestration.stream.dead_letters import DeadLetter, DeadLetterUnreadable, read_dead_letter
from orchestration.stream.queue_scan import receive_all, release

_EPOCH = datetime.fromtimestamp(0, UTC)
SAMPLES_PER_KIND = 3
SAMPLE_CHARS = 80
# The detail after a reason's first ": " that is still part of its kind: a field name, or one
# CamelCase word standing alone (an error code or a condition), e.g. "RetryAttemptsExhausted".
_STABLE_DETAIL = re.compile(r"(field '[^']*'|[A-Z][A-Za-z]+)(?=:|$| \()")


def reason_kind(reason: str) -> str:
    head, _, rest = reason.partition(": ")
    detail = _STABLE_DETAIL.match(rest)
    return f"{head}: {detail.group(1)}" if detail else head


@dataclass
class ReasonRow:
    kind: str
    letters: int = 0
    messages: int = 0
    claim_checked: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    samples: list[str] = field(default_factory=list)


@dataclass
class DeadLetterSummary:
    messages: int
    letters: int
    claim_checked: int
    rows: list[ReasonRow]  # most letters first
    unreadable: list[str]  # one line per message that is not a readable letter
    truncated: bool  # the queue held more than the scan's limit

    @property
    def duplicates(self) -> int:
        return self.messages - self.letters - len(self.unreadable)

    def markdown(self) -> str:
        if not self.rows:
            return "The dead-letter queue is empty."
        lines = [
            "| reason kind | letters | messages | claim-checked | first seen (UTC) | last seen (UTC) "
            "| samples |",
            "|---|---:|---:|---:|---|---|---|",
        ]
        for row in self.rows:
            samples = "<br>".join(f"`{_cell(sample)}`" for sample in row.samples)
            lines.append(
                f"| {_cell(row.kind)} | {row.letters} | {row.messages} | {row.claim_checked} "
                f"| {_when(row.first_seen)} | {_when(row.last_seen)} | {samples} |"
            )
        return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "?"


def summarize(letters: list[DeadLetter], unreadable: list[str], truncated: bool = False) -> DeadLetterSummary:
    rows: dict[str, ReasonRow] = {}
    seen: set[tuple[str, str, int]] = set()
    for letter in sorted(letters, key=lambda each: (each.sent_at is None, each.sent_at or _EPOCH)):
        row = rows.setdefault(reason_kind(letter.reason), ReasonRow(reason_kind(letter.reason)))
        row.messages += 1
        if letter.sent_at is not None:
            row.first_seen = min(row.first_seen or letter.sent_at, letter.sent_at)
            row.last_seen = max(row.last_seen or letter.sent_at, letter.sent_at)
        if letter.identity in seen:
            continue
        seen.add(letter.identity)
        row.letters += 1
        row.claim_checked += letter.claim_checked
        if len(row.samples) < SAMPLES_PER_KIND:
            row.samples.append(letter.payload[:SAMPLE_CHARS])
    return DeadLetterSummary(
        messages=len(letters) + len(unreadable),
        letters=len(seen),
        claim_checked=sum(row.claim_checked for row in rows.values()),
        rows=sorted(rows.values(), key=lambda row: (-row.letters, row.kind)),
        unreadable=unreadable,
        truncated=truncated,
    )


def read_dead_letter_queue(
    sqs, s3, queue_url: str, visibility_timeout_s: int = 60, max_messages: int = 10_000, wait_s: int = 1
) -> DeadLetterSummary:
    """Summarize the queue and leave it as it was: every message is received once, read (claim-checked
    bodies fetched from S3) and made visible again."""
    held = receive_all(sqs, queue_url, visibility_timeout_s, max_messages, wait_s)
    try:
        letters, unreadable = [], []
        for message in held.messages:
            try:
                letters.append(read_dead_letter(message, s3))
            except DeadLetterUnreadable as error:
                unreadable.append(str(error))
        return summarize(letters, unreadable, held.truncated)
    finally:
        release(sqs, queue_url, held.messages)
