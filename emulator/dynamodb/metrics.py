"""AWS/DynamoDB ConsumedReadCapacityUnits / ConsumedWriteCapacityUnits per TableName (unit Count), one
sample per request that touched the table, valued at what it consumed (see emulator.dynamodb.capacity)."""

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
