"""A small stream path on the session emulator for the DLQ operations: input stream, dead-letter queue
and bucket, failure queue; fresh per test, so counts start at zero."""

import uuid
from dataclasses import dataclass

import pytest

from orchestration.stream.stack import ensure_bucket, ensure_queue, ensure_stream
from serving.consumer.claim_check import DeadLetterTarget
from serving.consumer.sinks import send_dead_letters


@dataclass
class DlqWorld:
    emulator: object
    name: str
    stream_arn: str
    target: DeadLetterTarget
    failure_queue_url: str

    @property
    def stream(self) -> str:
        return f"{self.name}-in"

    @property
    def queue_url(self) -> str:
        return self.target.queue_url

    def client(self, service: str):
        return self.emulator.client(service)

    def letter(self, sequence: int, payload: str, reason: str = "not JSON: Expecting value", **extra) -> dict:
        return {
            "reason": reason,
            "payload": payload,
            "shard_id": "shardId-000000000000",
            "sequence_number": f"{sequence:056d}",
            "partition_key": f"C{sequence % 3}",
            "event_source_arn": self.stream_arn,
            **extra,
        }

    def send(self, *letters: dict) -> None:
        assert send_dead_letters(self.client("sqs"), self.client("s3"), self.target, list(letters)) == set()

    def depth(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the DLQ (or another queue)."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def stream_records(self) -> list[dict]:
        kinesis = self.client("kinesis")
        found = []
        for shard in kinesis.list_shards(StreamName=self.stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            found += kinesis.get_records(ShardIterator=iterator, Limit=10000)["Records"]
        return found


@pytest.fixture
def dlq_world(emulator) -> DlqWorld:
    name = f"d{uuid.uuid4().hex[:8]}"
    stream_arn = ensure_stream(emulator.client("kinesis"), f"{name}-in", 1)
    dlq_url, _ = ensure_queue(emulator.client("sqs"), f"{name}-dlq")
    failures_url, _ = ensure_queue(emulator.client("sqs"), f"{name}-batch-failures")
    ensure_bucket(emulator.client("s3"), f"{name}-dead-letters")
    return DlqWorld(
        emulator, name, stream_arn, DeadLetterTarget(dlq_url, f"{name}-dead-letters"), failures_url
    )
