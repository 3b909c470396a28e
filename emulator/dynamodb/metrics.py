"""AWS/DynamoDB metrics: ConsumedReadCapacityUnits / ConsumedWriteCapacityUnits per TableName (unit
Count), one sample per request that touched the table, valued at what it consumed (see
emulator.dynamodb.capacity); SuccessfulRequestLatency per TableName and Operation (Milliseconds, one
sample per successful request: its SampleCount is the operation's request count)."""

from __future__ import annotations

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.dynamodb.capacity import Consumed

NAMESPACE = "AWS/DynamoDB"


def publish_consumed(publisher: MetricPublisher, consumed: Consumed) -> None:
    for table, units in consumed.tables.items():
        dimensions = (("TableName", table),)
        if units.read:
            publisher.add(NAMESPACE, "ConsumedReadCapacityUnits", dimensions, "Count", units.read)
        if units.write:
            publisher.add(NAMESPACE, "ConsumedWriteCapacityUnits", dimensions, "Count", units.write)


def publish_latency(
    publisher: MetricPublisher, operation: str, consumed: Consumed, latency_ms: float
) -> None:
    for table in consumed.tables:
        dimensions = (("TableName", table), ("Operation", operation))
        publisher.add(NAMESPACE, "SuccessfulRequestLatency", dimensions, "Milliseconds", latency_ms)
