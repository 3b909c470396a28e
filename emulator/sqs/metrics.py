"""AWS/SQS metrics per QueueName (unit Count unless said), as SQS publishes them for the requests it
answers: NumberOfMessagesSent (one sample per send request, valued at the messages it added),
SentMessageSize (Bytes, one sample per message sent), NumberOfMessagesReceived (per receive request),
NumberOfEmptyReceives (1 per receive request that returned nothing), NumberOfMessagesDeleted (per delete
request). Messages moved to a dead-letter queue by a redrive policy are not counted as sent there, as on
AWS."""

from __future__ import annotations

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.sqs.backend import queue_name

NAMESPACE = "AWS/SQS"


class QueueMetrics:
    def __init__(self, publisher: MetricPublisher) -> None:
        self._publisher = publisher

    def _add(self, queue: str, name: str, value: float, unit: str = "Count") -> None:
        self._publisher.add(NAMESPACE, name, (("QueueName", queue_name(queue)),), unit, value)

    def sent(self, queue: str, sizes: list[int]) -> None:
        self._add(queue, "NumberOfMessagesSent", len(sizes))
        for size in sizes:
            self._add(queue, "SentMessageSize", size, "Bytes")

    def received(self, queue: str, count: int) -> None:
        self._add(queue, "NumberOfMessagesReceived", count)
        self._add(queue, "NumberOfEmptyReceives", float(count == 0))

    def deleted(self, queue: str, count: int) -> None:
        self._add(queue, "NumberOfMessagesDeleted", count)
