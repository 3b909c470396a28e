"""What a running mapping is made of: one poller per shard, wired to the function, the mapping's
checkpoints, and its OnFailure destination."""

from __future__ import annotations

import logging
import uuid as uuids
from typing import Protocol

from emulator.kinesis.backend import KinesisBackend
from emulator.lambda_.backend import LambdaBackend
from emulator.lambda_.esm.batch_processor import BatchProcessor, NotInvoked, Segment
from emulator.lambda_.esm.checkpoints import Checkpoints
from emulator.lambda_.esm.config import S3_ARN_PREFIX, is_consumer_arn, poll_settings
from emulator.lambda_.esm.kinesis_event import event_payload
from emulator.lambda_.esm.on_failure import failure_record, s3_object_key
from emulator.lambda_.esm.shard_poller import ShardPoller
from emulator.lambda_.esm.stats import MappingStats
from emulator.lambda_.workers import Report
from emulator.protocol.errors import AwsError

log = logging.getLogger(__name__)

_SCAN_CHUNK = 1000


class QueueSender(Protocol):
    def send_message(self, queue: str, body: str, attributes: dict | None = None) -> object: ...


class ObjectWriter(Protocol):
    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> object: ...


class MappingRunner:
    def __init__(
        self,
        functions: LambdaBackend,
        kinesis: KinesisBackend,
        sqs: QueueSender,
        s3: ObjectWriter,
        checkpoints: Checkpoints,
    ) -> None:
        self._functions = functions
        self._kinesis = kinesis
        self._sqs = sqs
        self._s3 = s3
        self._checkpoints = checkpoints

    def source_stream(self, event_source_arn: str) -> str:
        """The ARN of the stream a mapping reads: its source, or the stream its consumer is registered
        on. AwsError (ResourceNotFoundException) when that stream or consumer does not exist."""
        if is_consumer_arn(event_source_arn):
            return self._kinesis.stream_arn(self._kinesis.consumer_stream(event_source_arn))
        return self._kinesis.stream_arn(event_source_arn)

    def initial_position(self, source: dict, shard_id: str) -> str:
        """The checkpoint to start from: the sequence number just before the first record to deliver."""
        stream = self.source_stream(source["EventSourceArn"])
        if source["StartingPosition"] == "TRIM_HORIZON":
            return ""
        if source["StartingPosition"] == "LATEST":
            return self._kinesis.latest_sequence(stream, shard_id) or ""
        position = ""
        while True:  # AT_TIMESTAMP: walk the shard to the first record that arrived at or after it
            records = self._kinesis.read_shard(stream, shard_id, after_sequence=position, limit=_SCAN_CHUNK)
            for record in records:
                if record.arrival >= source["StartingPositionTimestamp"]:
                    return position
                position = record.sequence_number
            if len(records) < _SCAN_CHUNK:
                return position

    def pollers(self, record: dict, stats: MappingStats) -> list[ShardPoller]:
        """Pollers (not yet started) for every shard of the mapping's stream, from its checkpoints."""
        uuid = record["UUID"]
        function_name = record["FunctionArn"].partition(":function:")[2]
        try:
            identity = self._functions.get_configuration(function_name).get("Role", "")
        except AwsError:  # deleted since: the pollers retry until it exists again or records expire
            identity = ""
        settings = poll_settings(record, function_name, self.source_stream(record["EventSourceArn"]))

        def invoke(payload: bytes) -> Report:
            try:
                return self._functions.invoke(function_name, payload)
            except AwsError as err:
                raise NotInvoked(err.message) from None

        def iterator_age(age_ms: float) -> None:
            self._functions.metrics.iterator_age(function_name, age_ms)

        def give_up(segment: Segment, condition: str) -> None:
            self._give_up(record, settings.stream_arn, stats, segment, condition)

        def save_checkpoint(shard_id: str, sequence: str) -> None:
            self._checkpoints.put(uuid, shard_id, sequence)

        pollers = []
        for shard in self._kinesis.list_shards(settings.stream_arn):
            checkpoint = self._checkpoints.get(uuid, shard.shard_id)
            if checkpoint is None:  # a shard the mapping has not seen yet
                checkpoint = self.initial_position(record, shard.shard_id)
            pollers.append(
                ShardPoller(
                    shard.shard_id,
                    checkpoint,
                    settings,
                    self._kinesis,
                    (self._functions.region, identity),
                    lambda stopping: BatchProcessor(settings, invoke, give_up, stats, stopping, iterator_age),
                    save_checkpoint,
                    stats,
                )
            )
        return pollers

    def _give_up(
        self, record: dict, stream_arn: str, stats: MappingStats, segment: Segment, condition: str
    ) -> None:
        destination = record["DestinationConfig"]["OnFailure"].get("Destination")
        count = len(segment.records)
        if destination is None:
            log.warning("event-source mapping %s discarded %d records (%s)", record["UUID"], count, condition)
            stats.add("records_dropped", count)
            return
        to_s3 = destination.startswith(S3_ARN_PREFIX)
        body = failure_record(
            segment.records,
            condition,
            record["FunctionArn"],
            stream_arn,
            segment.request_id or str(uuids.uuid4()),
            segment.invokes,
            segment.function_error,
            event_payload(segment.records) if to_s3 else None,
        )
        try:
            if to_s3:
                key = s3_object_key(record["UUID"], segment.records[0].record.shard_id)
                self._s3.put_object(
                    destination.removeprefix(S3_ARN_PREFIX), key, body.encode(), "application/json"
                )
            else:
                self._sqs.send_message(destination, body)
        except AwsError as err:
            log.warning(
                "event-source mapping %s could not send to %s: %s", record["UUID"], destination, err.message
            )
            stats.add("records_dropped", count)
            return
        stats.add("records_sent_to_destination", count)
