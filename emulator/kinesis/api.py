"""Kinesis over AWS JSON 1.1 (X-Amz-Target `Kinesis_20131202.<Operation>`); record Data travels base64."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.kinesis.backend import KinesisBackend, PutEntry, StreamRecord
from emulator.kinesis.metrics import publish_put
from emulator.protocol.body import BodyLimit
from emulator.protocol.errors import AwsError, validation_exception
from emulator.protocol.json_rpc import MIB, JsonDispatcher
from emulator.protocol.pagination import paginate
from emulator.protocol.shapes import RequestShapes

Params = dict[str, Any]

# PutRecords carries at most 10 MiB of records, their Data base64-encoded (4/3), and 500 partition keys.
MAX_BODY_BYTES = 10 * MIB * 4 // 3 + MIB
_LIMIT = BodyLimit(
    MAX_BODY_BYTES,
    lambda size: AwsError(
        "InvalidArgumentException", f"Records size exceeds 10 MiB limit: the request body is {size} bytes"
    ),
)


def _stream(params: Params) -> str:
    stream = params.get("StreamARN") or params.get("StreamName")
    if not stream:
        raise AwsError("InvalidArgumentException", "Either StreamName or StreamARN must be provided")
    return stream


def _stream_arn(params: Params) -> str:
    arn = params.get("StreamARN")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise validation_exception(
            f"1 validation error detected: Value {arn!r} at 'streamARN' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
        )
    return arn


def _consumer_key(backend: KinesisBackend, params: Params) -> tuple[str | None, str | None, str | None]:
    """(stream name, consumer name, consumer ARN) as Describe/DeregisterStreamConsumer name one."""
    stream = backend.stream_name(params["StreamARN"]) if params.get("StreamARN") else None
    return stream, params.get("ConsumerName"), params.get("ConsumerARN")


def _entry(record: Params, position: int) -> PutEntry:
    try:
        data = base64.b64decode(record.get("Data", ""), validate=True)
    except (binascii.Error, ValueError):
        raise AwsError("SerializationException", f"Data of record {position} is not valid base64") from None
    return PutEntry(data, record.get("PartitionKey", ""), record.get("ExplicitHashKey"))


def _record(record: StreamRecord) -> Params:
    return {
        "SequenceNumber": record.sequence_number,
        "ApproximateArrivalTimestamp": record.arrival,
        "Data": base64.b64encode(record.data).decode(),
        "PartitionKey": record.partition_key,
    }


def build_kinesis_api(backend: KinesisBackend, metrics: MetricPublisher) -> JsonDispatcher:
    api = JsonDispatcher("Kinesis_20131202", "1.1", RequestShapes("kinesis"), _LIMIT)

    @api.operation("CreateStream")
    def create_stream(params: Params) -> Params:
        mode = params.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        backend.create_stream(params.get("StreamName", ""), params.get("ShardCount"), mode)
        return {}

    @api.operation("DeleteStream")
    def delete_stream(params: Params) -> Params:
        backend.delete_stream(_stream(params))
        return {}

    @api.operation("ListStreams")
    def list_streams(params: Params) -> Params:
        names = backend.list_streams()
        start = params.get("ExclusiveStartStreamName")
        if start:
            names = [name for name in names if name > start]
        limit = params.get("Limit", 100)
        page = names[:limit]
        return {
            "StreamNames": page,
            "HasMoreStreams": len(names) > limit,
            "StreamSummaries": [
                {
                    key: summary[key]
                    for key in (
                        "StreamName",
                        "StreamARN",
                        "StreamStatus",
                        "StreamModeDetails",
                        "StreamCreationTimestamp",
                    )
                }
                for summary in map(backend.describe_summary, page)
            ],
        }

    @api.operation("DescribeStreamSummary")
    def describe_stream_summary(params: Params) -> Params:
        return {"StreamDescriptionSummary": backend.describe_summary(_stream(params))}

    @api.operation("DescribeStream")
    def describe_stream(params: Params) -> Params:
        stream = _stream(params)
        summary = backend.describe_summary(stream)
        del summary["OpenShardCount"], summary["ConsumerCount"]
        shards = [shard.describe() for shard in backend.list_shards(stream)]
        return {"StreamDescription": {**summary, "Shards": shards, "HasMoreShards": False}}

    @api.operation("ListShards")
    def list_shards(params: Params) -> Params:
        shards = [shard.describe() for shard in backend.list_shards(_stream(params))]
        start = params.get("NextToken") or params.get("ExclusiveStartShardId")
        limit = params.get("MaxResults", 1000)
        return paginate(shards, "Shards", start, limit, name_of=lambda shard: shard["ShardId"])

    @api.operation("IncreaseStreamRetentionPeriod")
    def increase_retention(params: Params) -> Params:
        backend.set_retention(_stream(params), params["RetentionPeriodHours"], increase=True)
        return {}

    @api.operation("DecreaseStreamRetentionPeriod")
    def decrease_retention(params: Params) -> Params:
        backend.set_retention(_stream(params), params["RetentionPeriodHours"], increase=False)
        return {}

    @api.operation("PutRecord")
    def put_record(params: Params) -> Params:
        entries = [_entry(params, 0)]
        (result,) = backend.put_records(_stream(params), entries)
        publish_put(metrics, _stream(params), "PutRecord", entries, [result])
        if "ErrorCode" in result:
            raise AwsError(result["ErrorCode"], result["ErrorMessage"])
        return {**result, "EncryptionType": "NONE"}

    @api.operation("PutRecords")
    def put_records(params: Params) -> Params:
        entries = [_entry(record, i) for i, record in enumerate(params.get("Records", []))]
        results = backend.put_records(_stream(params), entries)
        publish_put(metrics, _stream(params), "PutRecords", entries, results)
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}

    @api.operation("GetShardIterator")
    def get_shard_iterator(params: Params) -> Params:
        iterator = backend.get_shard_iterator(
            _stream(params),
            params.get("ShardId", ""),
            params.get("ShardIteratorType", ""),
            params.get("StartingSequenceNumber"),
            params.get("Timestamp"),
        )
        return {"ShardIterator": iterator}

    @api.operation("GetRecords")
    def get_records(params: Params) -> Params:
        result = backend.get_records(params.get("ShardIterator", ""), params.get("Limit", 10000))
        return {**result, "Records": [_record(record) for record in result["Records"]]}

    # enhanced fan-out consumers

    @api.operation("RegisterStreamConsumer")
    def register_stream_consumer(params: Params) -> Params:
        stream = backend.stream_name(_stream_arn(params))
        return {"Consumer": backend.consumers.register(stream, params.get("ConsumerName", ""))}

    @api.operation("DescribeStreamConsumer")
    def describe_stream_consumer(params: Params) -> Params:
        return {"ConsumerDescription": backend.consumers.describe(*_consumer_key(backend, params))}

    @api.operation("ListStreamConsumers")
    def list_stream_consumers(params: Params) -> Params:
        consumers = backend.consumers.list(backend.stream_name(_stream_arn(params)))
        limit = params.get("MaxResults", 100)
        if not 1 <= limit <= 10000:
            raise AwsError("InvalidArgumentException", f"MaxResults must be between 1 and 10000, got {limit}")
        return paginate(
            consumers, "Consumers", params.get("NextToken"), limit, name_of=lambda c: c["ConsumerName"]
        )

    @api.operation("DeregisterStreamConsumer")
    def deregister_stream_consumer(params: Params) -> Params:
        backend.consumers.deregister(*_consumer_key(backend, params))
        return {}

    return api
