"""What came out of the stream path: read back the predictions table and the dead-letter queue."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


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


def scan_all(dynamodb, table: str, **kwargs) -> list[dict]:
    items, start = [], None
    while True:
        page = dynamodb.scan(TableName=table, **kwargs, **({"ExclusiveStartKey": start} if start else {}))
        items += page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


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


@dataclass(frozen=True)
class ReplayScope:
    """One replay's records among everything stored: its valid records by request id, stored since it
    started (a replay of ids seen before overwrites their rows, so the row must be new), and the dead
    letters the queue gained since (a malformed record may carry no readable id)."""

    before: Baseline
    request_ids: frozenset[str]


def read_account(
    dynamodb,
    sqs,
    predictions_table: str,
    dlq_url: str,
    scope: ReplayScope | None = None,
) -> StreamAccount:
    """Everything stored and dead-lettered, or only what belongs to one replay's `scope`."""
    account = StreamAccount()
    items = scan_all(
        dynamodb,
        predictions_table,
        ProjectionExpression="request_id, fallback, latency_ms, variant, model_version, predicted_ms",
    )
    latencies = []
    for item in items:
        request_id = item["request_id"]["S"]
        if scope is not None and not (
            request_id in scope.request_ids and int(item["predicted_ms"]["N"]) >= scope.before.started_ms
        ):
            continue
        account.request_ids.add(request_id)
        if item.get("fallback", {}).get("BOOL"):
            account.fallbacks += 1
            account.fallback_request_ids.add(request_id)
        else:
            account.predictions += 1
            account.variants[item.get("variant", {}).get("S", "?")] += 1
        account.model_versions[item.get("model_version", {}).get("S", "?")] += 1
        latencies.append(float(item["latency_ms"]["N"]))
    account.latencies_ms = np.array(latencies)
    account.dead_lettered = queue_depth(sqs, dlq_url) - (scope.before.dead_lettered if scope else 0)
    return account


def wait_until_accounted(
    dynamodb,
    sqs,
    predictions_table: str,
    dlq_url: str,
    expected: int,
    timeout_s: float,
    poll_s: float = 0.5,
    scope: ReplayScope | None = None,
) -> StreamAccount:
    """Poll until `expected` records (of `scope`, when given) are accounted for, or the timeout
    passes; return the reading.

    The table and the queue keep earlier replays' records, so a replay must give its scope: counted
    from zero, a second replay would find the first one's records and stop waiting before its own
    were stored. Polls count (Select=COUNT) instead of reading every item back, so watching a run
    costs the path under test little; the items are read when the count says they may all be in.
    """
    before = scope.before if scope else Baseline()
    deadline = time.monotonic() + timeout_s
    while True:
        stored = count_stored(dynamodb, predictions_table, since_ms=before.started_ms)
        if stored + queue_depth(sqs, dlq_url) - before.dead_lettered >= expected:
            account = read_account(dynamodb, sqs, predictions_table, dlq_url, scope)
            if account.accounted >= expected:  # the count may include another writer's records
                return account
        if time.monotonic() > deadline:
            return read_account(dynamodb, sqs, predictions_table, dlq_url, scope)
        time.sleep(poll_s)


def count_stored(dynamodb, predictions_table: str, since_ms: int = 0) -> int:
    """Rows of the predictions table (only those stored at or after `since_ms`, when it is given)."""
    since = (
        {
            "FilterExpression": "predicted_ms >= :since",
            "ExpressionAttributeValues": {":since": {"N": str(since_ms)}},
        }
        if since_ms
        else {}
    )
    stored, start = 0, None
    while True:
        page = dynamodb.scan(
            TableName=predictions_table,
            Select="COUNT",
            **since,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        stored += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return stored
