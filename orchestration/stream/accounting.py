"""What came out of the stream path: read back the audit objects and the dead-letter queue.

A replay's objects are found by listing from the time it started (keys sort by arrival time), so
polling a run lists its own objects and reads each once, however much earlier runs left in the bucket.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from orchestration.stream.audit_log import AuditReader


@dataclass
class StreamAccount:
    predictions: int = 0  # scored by a model
    fallbacks: int = 0  # scored by the fallback rule, flagged
    dead_lettered: int = 0  # in the DLQ (visible + in flight)
    latencies_ms: np.ndarray = field(default_factory=lambda: np.array([]))
    variants: Counter = field(default_factory=Counter)
    model_versions: Counter = field(default_factory=Counter)
    request_ids: set[str] = field(default_factory=set)
    fallback_request_ids: set[str] = field(default_factory=set)

    @property
    def accounted(self) -> int:
        return self.predictions + self.fallbacks + self.dead_lettered

    def latency(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


def queue_depth(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@dataclass(frozen=True)
class Baseline:
    """Where a replay starts from: the time it started (the consumer stamps each prediction with
    predicted_ms on its own clock, the same one locally and NTP-synced on AWS) and the dead letters
    already queued."""

    started_ms: int = 0
    dead_lettered: int = 0


def take_baseline(sqs, dlq_url: str) -> Baseline:
    return Baseline(int(time.time() * 1000), queue_depth(sqs, dlq_url))


# The consumer's and the replayer's clocks (NTP-synced on AWS, one clock locally) may disagree a little:
# list from this much before a replay started; the rows are then filtered by predicted_ms exactly.
CLOCK_SLACK_MS = 60_000


@dataclass(frozen=True)
class ReplayScope:
    """One replay's records among everything stored: its valid records by request id, predicted since
    it started (a replay of ids seen before adds new rows; the old ones are older), and the dead letters
    the queue gained since (a malformed record may carry no readable id)."""

    before: Baseline
    request_ids: frozenset[str]


def _in_scope(row: dict, scope: ReplayScope | None) -> bool:
    return scope is None or row["request_id"] in scope.request_ids


def read_account(
    s3,
    sqs,
    audit_bucket: str,
    dlq_url: str,
    scope: ReplayScope | None = None,
    reader: AuditReader | None = None,
    since_ms: int = 0,
) -> StreamAccount:
    """Everything stored (predicted at or after `since_ms`) and dead-lettered, or only what belongs to
    one replay's `scope`: one row per stream position, so a record is counted once however often its
    batch was redelivered."""
    reader = reader or AuditReader(s3, audit_bucket)
    since_ms = scope.before.started_ms if scope else since_ms
    account = StreamAccount()
    latencies = []
    for row in reader.rows_since(since_ms - CLOCK_SLACK_MS if since_ms else 0):
        if row["predicted_ms"] < since_ms or not _in_scope(row, scope):
            continue
        request_id = row["request_id"]
        account.request_ids.add(request_id)
        if row["fallback"]:
            account.fallbacks += 1
            account.fallback_request_ids.add(request_id)
        else:
            account.predictions += 1
            account.variants[row.get("variant") or "?"] += 1
        account.model_versions[row.get("model_version") or "?"] += 1
        latencies.append(float(row["latency_ms"]))
    account.latencies_ms = np.array(latencies)
    account.dead_lettered = queue_depth(sqs, dlq_url) - (scope.before.dead_lettered if scope else 0)
    return account


def wait_until_accounted(
    s3,
    sqs,
    audit_bucket: str,
    dlq_url: str,
    expected: int,
    timeout_s: float,
    poll_s: float = 0.5,
    scope: ReplayScope | None = None,
) -> StreamAccount:
    """Poll until `expected` records (of `scope`, when given) are accounted for, or the timeout
    passes; return the reading.

    The bucket and the queue keep earlier replays' records, so a replay must give its scope: counted
    from zero, a second replay would find the first one's records and stop waiting before its own
    were stored. Each poll lists the keys since the replay started and reads only objects it has not
    read yet, so watching a run costs the path under test little.
    """
    reader = AuditReader(s3, audit_bucket)
    deadline = time.monotonic() + timeout_s
    while True:
        account = read_account(s3, sqs, audit_bucket, dlq_url, scope, reader)
        if account.accounted >= expected or time.monotonic() > deadline:
            return account
        time.sleep(poll_s)


def count_stored(s3, audit_bucket: str, since_ms: int = 0) -> int:
    """Predictions stored (those predicted at or after `since_ms`, when it is given), one per record."""
    since = since_ms - CLOCK_SLACK_MS if since_ms else 0
    return sum(row["predicted_ms"] >= since_ms for row in AuditReader(s3, audit_bucket).rows_since(since))
