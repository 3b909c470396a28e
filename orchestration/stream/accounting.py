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


def read_account(dynamodb, sqs, predictions_table: str, dlq_url: str) -> StreamAccount:
    account = StreamAccount()
    items = scan_all(
        dynamodb,
        predictions_table,
        ProjectionExpression="request_id, fallback, latency_ms, variant, model_version",
    )
    latencies = []
    for item in items:
        account.request_ids.add(item["request_id"]["S"])
        if item.get("fallback", {}).get("BOOL"):
            account.fallbacks += 1
            account.fallback_request_ids.add(item["request_id"]["S"])
        else:
            account.predictions += 1
            account.variants[item.get("variant", {}).get("S", "?")] += 1
        account.model_versions[item.get("model_version", {}).get("S", "?")] += 1
        latencies.append(float(item["latency_ms"]["N"]))
    account.latencies_ms = np.array(latencies)
    account.dead_lettered = queue_depth(sqs, dlq_url)
    return account


def wait_until_accounted(
    dynamodb, sqs, predictions_table: str, dlq_url: str, expected: int, timeout_s: float, poll_s: float = 0.5
) -> StreamAccount:
    """Poll until `expected` records are accounted for (or the timeout passes); return the full reading.

    Polls count (Select=COUNT) instead of reading every item back, so watching a run costs the
    path under test little; the items are read once, at the end.
    """
    deadline = time.monotonic() + timeout_s
    while (
        count_accounted(dynamodb, sqs, predictions_table, dlq_url) < expected and time.monotonic() <= deadline
    ):
        time.sleep(poll_s)
    return read_account(dynamodb, sqs, predictions_table, dlq_url)


def count_accounted(dynamodb, sqs, predictions_table: str, dlq_url: str) -> int:
    stored, start = 0, None
    while True:
        page = dynamodb.scan(
            TableName=predictions_table, Select="COUNT", **({"ExclusiveStartKey": start} if start else {})
        )
        stored += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return stored + queue_depth(sqs, dlq_url)
