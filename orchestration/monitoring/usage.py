"""Usage of a window, as the services counted it, read through CloudWatch (the same calls on AWS and on
the emulator), with the fixed capacity read from the resources themselves: shards from Kinesis,
instances from the endpoint, memory and architecture from the function.

`read_usage` reads any set of named resources (`CostedResources`), so a pattern deployed on its own
resources (the bench's one-at-a-time baseline) is costed exactly as the path; `stack_resources` names
the stream stack's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orchestration.monitoring.cost import SQS_CHUNK_BYTES, StreamUsage, Usage, VariantUsage
from orchestration.stream.stack import StreamStackSpec

CONSUMER_NAMESPACE = "rtinfer"  # the consumer's EMF metrics (serving/consumer/handler.py)
CONSUMER_DIMENSIONS = (("service", "fraud-consumer"),)
_MAX_QUERIES = 500  # GetMetricData's limit per call
STORAGE_LOOKBACK_S = 2 * 86400  # S3 storage metrics are daily: the latest one within two days


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"Window must end after it starts, got {self.start} .. {self.end}")

    @classmethod
    def last(cls, seconds: float, now: datetime | None = None) -> Window:
        end = now or datetime.now(tz=UTC)
        return cls(end - timedelta(seconds=seconds), end)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class CostedResources:
    """Names of what a pattern uses; every stream's writes are billed (input and output)."""

    streams: tuple[str, ...]
    tables: tuple[str, ...]
    buckets: tuple[str, ...]
    queues: tuple[str, ...]
    function_name: str | None  # None: a pattern without a function (its Lambda usage is zero here)
    endpoint_name: str


def stack_resources(spec: StreamStackSpec) -> CostedResources:
    """The resources a stack's spec names; MonitoringTargets, which names the same, will do too."""
    return CostedResources(
        streams=(spec.input_stream, spec.output_stream),
        tables=(spec.feature_state_table, spec.labels_table),
        buckets=(spec.audit_bucket, spec.dead_letter_bucket),
        queues=(spec.dead_letter_queue, spec.batch_failure_queue),
        function_name=spec.function_name,
        endpoint_name=spec.endpoint_name,
    )


@dataclass(frozen=True)
class _Query:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str = "Sum"


class _Sums:
    """Sums of many metrics over one window, read in as few GetMetricData calls as the limit allows."""

    def __init__(self, cloudwatch, window: Window) -> None:
        self._cloudwatch = cloudwatch
        self._window = window

    def read(self, queries: list[_Query]) -> dict[_Query, float]:
        found = dict.fromkeys(queries, 0.0)
        for start in range(0, len(queries), _MAX_QUERIES):
            chunk = queries[start : start + _MAX_QUERIES]
            ids = {f"q{i}": query for i, query in enumerate(chunk)}
            request = {
                "MetricDataQueries": [
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": q.namespace,
                                "MetricName": q.name,
                                "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
                            },
                            "Period": 60,
                            "Stat": q.statistic,
                        },
                    }
                    for query_id, q in ids.items()
                ],
                "StartTime": self._window.start,
                "EndTime": self._window.end,
            }
            while True:
                answer = self._cloudwatch.get_metric_data(**request)
                for result in answer["MetricDataResults"]:
                    found[ids[result["Id"]]] += sum(result.get("Values", []))
                token = answer.get("NextToken")
                if not token:
                    break
                request["NextToken"] = token
        return found


def _stream_queries(stream: str) -> list[_Query]:
    dims = (("StreamName", stream),)
    return [_Query("AWS/Kinesis", "IncomingRecords", dims), _Query("AWS/Kinesis", "IncomingBytes", dims)]


def _table_queries(table: str) -> list[_Query]:
    dims = (("TableName", table),)
    return [
        _Query("AWS/DynamoDB", "ConsumedReadCapacityUnits", dims),
        _Query("AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims),
    ]


_S3_PUT_CLASS = ("PutRequests", "PostRequests", "ListRequests")
_S3_GET_CLASS = ("GetRequests", "HeadRequests")


def _bucket_queries(bucket: str) -> list[_Query]:
    dims = (("BucketName", bucket), ("FilterId", "EntireBucket"))
    return [_Query("AWS/S3", name, dims) for name in _S3_PUT_CLASS + _S3_GET_CLASS]


_SQS_METRICS = ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfEmptyReceives")
_SQS_METRICS += ("NumberOfMessagesDeleted", "SentMessageSize")


def _queue_queries(queue: str) -> list[_Query]:
    return [_Query("AWS/SQS", name, (("QueueName", queue),)) for name in _SQS_METRICS]


def _function_queries(function: str) -> list[_Query]:
    dims = (("FunctionName", function),)
    logs = (("LogGroupName", f"/aws/lambda/{function}"),)
    return [
        _Query("AWS/Lambda", "Invocations", dims),
        _Query("AWS/Lambda", "Duration", dims),
        _Query("AWS/Logs", "IncomingBytes", logs),
    ]


def sqs_requests(sent: float, sent_bytes: float, received: float, empty: float, deleted: float) -> float:
    """Billed SQS requests from what SQS counts: each sent message's 64 KB chunks (from totals: exact
    for messages up to 64 KB), one per message received and deleted, one per empty receive. Batched
    receives and deletes are counted per message, an upper bound."""
    return max(sent, math.ceil(sent_bytes / SQS_CHUNK_BYTES)) + received + empty + deleted


def _stored_bytes(cloudwatch, buckets: Iterable[str], window: Window) -> float:
    """Bytes held by the buckets: each one's latest daily BucketSizeBytes up to the window's end."""
    total = 0.0
    for bucket in buckets:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/S3",
            MetricName="BucketSizeBytes",
            Dimensions=[
                {"Name": "BucketName", "Value": bucket},
                {"Name": "StorageType", "Value": "StandardStorage"},
            ],
            StartTime=window.end - timedelta(seconds=STORAGE_LOOKBACK_S),
            EndTime=window.end,
            Period=3600,
            Statistics=["Maximum"],
        )["Datapoints"]
        if points:
            total += max(points, key=lambda p: p["Timestamp"])["Maximum"]
    return total


@dataclass(frozen=True)
class _Endpoint:
    variants: tuple[VariantUsage, ...]
    capture_bucket: str | None  # where data capture writes, one PUT per capture file


def _endpoint(sagemaker, endpoint: str) -> _Endpoint:
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    capture = config.get("DataCaptureConfig") or {}
    destination = capture.get("DestinationS3Uri", "") if capture.get("EnableCapture", True) else ""
    capture_bucket = destination.removeprefix("s3://").split("/", 1)[0] or None
    types = {
        v["VariantName"]: v.get("InstanceType", "")
        for v in config["ProductionVariants"] + config.get("ShadowProductionVariants", [])
    }
    production = described.get("ProductionVariants", [])
    total_weight = sum(v.get("CurrentWeight", 0.0) for v in production) or 1.0
    variants = [
        VariantUsage(
            v["VariantName"],
            types.get(v["VariantName"], ""),
            v.get("CurrentInstanceCount", 0),
            v.get("CurrentWeight", 0.0) / total_weight,
        )
        for v in production
    ]
    variants += [
        VariantUsage(v["VariantName"], types.get(v["VariantName"], ""), v.get("CurrentInstanceCount", 0), 1.0)
        for v in described.get("ShadowProductionVariants", [])
    ]
    return _Endpoint(tuple(variants), capture_bucket)


def read_usage(
    cloudwatch,
    sagemaker,
    lambda_client,
    kinesis,
    resources: CostedResources,
    window: Window,
    predictions: float | None = None,
) -> Usage:
    """The usage of `resources` in `window`. `predictions` defaults to the consumer's own count (its
    EMF Predictions metric); a pattern that does not publish it passes the count it made."""
    consumer_query = _Query(CONSUMER_NAMESPACE, "Predictions", CONSUMER_DIMENSIONS)
    queries = [consumer_query]
    if resources.function_name:
        queries += _function_queries(resources.function_name)
    for stream in resources.streams:
        queries += _stream_queries(stream)
    for table in resources.tables:
        queries += _table_queries(table)
    endpoint = _endpoint(sagemaker, resources.endpoint_name)
    # the capture bucket's requests are the endpoint's (its storage is shared with other uses: not counted)
    request_buckets = dict.fromkeys(
        (*resources.buckets, endpoint.capture_bucket) if endpoint.capture_bucket else resources.buckets
    )
    for bucket in request_buckets:
        queries += _bucket_queries(bucket)
    for queue in resources.queues:
        queries += _queue_queries(queue)
    sums = _Sums(cloudwatch, window).read(queries)

    def total(namespace: str, name: str) -> float:
        return sum(value for q, value in sums.items() if q.namespace == namespace and q.name == name)

    streams = tuple(
        StreamUsage(
            stream,
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["OpenShardCount"],
            sums[_stream_queries(stream)[0]],
            sums[_stream_queries(stream)[1]],
        )
        for stream in resources.streams
    )
    function = (
        lambda_client.get_function_configuration(FunctionName=resources.function_name)
        if resources.function_name
        else {"MemorySize": 0}
    )
    custom_metrics = cloudwatch.list_metrics(Namespace=CONSUMER_NAMESPACE).get("Metrics", [])
    return Usage(
        window_s=window.seconds,
        predictions=sums[consumer_query] if predictions is None else predictions,
        streams=streams,
        variants=endpoint.variants,
        function_memory_mb=function["MemorySize"],
        function_architecture=(function.get("Architectures") or ["x86_64"])[0],
        lambda_requests=total("AWS/Lambda", "Invocations"),
        lambda_duration_ms=total("AWS/Lambda", "Duration"),
        dynamodb_read_units=total("AWS/DynamoDB", "ConsumedReadCapacityUnits"),
        dynamodb_write_units=total("AWS/DynamoDB", "ConsumedWriteCapacityUnits"),
        s3_put_requests=sum(total("AWS/S3", name) for name in _S3_PUT_CLASS),
        s3_get_requests=sum(total("AWS/S3", name) for name in _S3_GET_CLASS),
        s3_stored_bytes=_stored_bytes(cloudwatch, resources.buckets, window),
        sqs_requests=sqs_requests(
            total("AWS/SQS", "NumberOfMessagesSent"),
            total("AWS/SQS", "SentMessageSize"),
            total("AWS/SQS", "NumberOfMessagesReceived"),
            total("AWS/SQS", "NumberOfEmptyReceives"),
            total("AWS/SQS", "NumberOfMessagesDeleted"),
        ),
        cloudwatch_metrics=len(custom_metrics),
        log_bytes=total("AWS/Logs", "IncomingBytes"),
    )


def read_stack_usage(
    cloudwatch, sagemaker, lambda_client, kinesis, spec: StreamStackSpec, window: Window
) -> Usage:
    """The stream stack's usage in `window`."""
    return read_usage(cloudwatch, sagemaker, lambda_client, kinesis, stack_resources(spec), window)
