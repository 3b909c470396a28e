"""Create (or find) the stream path's resources with boto3: streams, tables, queues, the audit and
dead-letter buckets, the function, its event-source mapping and (latency profile) the input stream's
enhanced fan-out consumer. Idempotent: every call can be repeated and converges on the same stack.

On AWS the same resources come from infra/template.yaml; this module is what the local stack and the
demo use, and it makes exactly the calls a deployment tool would.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestration.buckets import ensure_bucket
from orchestration.endpoint.names import ENDPOINT_NAME
from orchestration.stream.packaging import HANDLER
from serving.consumer.audit import PREFIX as AUDIT_PREFIX
from serving.consumer.state_store import STATE_TTL_ATTRIBUTE

BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
AUDIT_EXPIRY_RULE = "expire-predictions"


@dataclass(frozen=True)
class MappingProfile:
    """How the event-source mapping reads the input stream."""

    batch_size: int
    batching_window_s: int
    parallelization_factor: int
    enhanced_fan_out: bool  # read through a registered stream consumer (SubscribeToShard push)


# Numbers measured with bench/stream_latency.py (README, "Stream path"); the spec's docstring says why.
ESM_PROFILES: dict[str, MappingProfile] = {
    "latency": MappingProfile(
        batch_size=500, batching_window_s=0, parallelization_factor=4, enhanced_fan_out=True
    ),
    "throughput": MappingProfile(
        batch_size=500, batching_window_s=1, parallelization_factor=2, enhanced_fan_out=False
    ),
}


class StreamStackSpec(BaseModel):
    """Names and knobs of the stream path; the defaults are what the demo deploys.

    `esm_profile` picks how the event-source mapping reads the input stream; `batch_size`,
    `batching_window_s`, `parallelization_factor` and `enhanced_fan_out`, when set, override the
    profile's value (`mapping_profile` is the result).

    - latency (the default, for fraud scoring: a decision is wanted while the card is at the
      terminal): an enhanced fan-out consumer and no batching window, 4 concurrent batches per
      shard. Kinesis pushes each record over SubscribeToShard about 70 ms after the put, instead of
      Lambda polling each shard about once a second, and a batch is invoked as soon as it is read,
      with whatever has arrived: at a low rate batches are small by themselves, and the 500-record
      cap only bites when the function falls behind, where bigger batches cost less per record and
      catch up sooner. A record waits for its lane's batch in flight, so more lanes wait less:
      measured (bench/stream_latency.py, 4 shards), 4 per shard gave p50 / p99 of 82 / 196 ms at
      500 records/s where 2 gave 108 / 213 and 3 gave 87 / 206; at 2,000/s all three kept p99 under
      half a second. A cap of 100 was no better than 500.
      Costs more on AWS: enhanced fan-out bills every consumer-shard-hour (about $0.015 per shard
      and hour in us-east-1, ~$11 per shard-month) and every GB retrieved (about $0.013), and
      smaller batches mean more (shorter) invocations.
    - throughput (bulk or backfill scoring): shared-throughput polling, 500-record batches, a 1 s
      batching window, 2 concurrent batches per shard: the fewest invocations per record and no
      consumer charge, for a put-to-stored latency of one to a few seconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_stream: str = "rtinfer-transactions"
    input_shards: int = Field(2, ge=1, le=64)
    output_stream: str = "rtinfer-predictions"
    # Every input record yields one (larger) output record, so by default the output stream gets as
    # many shards as the input: with fewer, its per-shard limits throttle the consumer's PutRecords.
    output_shards: int | None = Field(None, ge=1, le=64)
    # One object of predictions per batch (serving/consumer/audit.py); bucket names are global on AWS.
    audit_bucket: str = Field("rtinfer-audit", pattern=BUCKET_NAME)
    # An S3 lifecycle rule expires the objects under predictions/ after this (rounded up to whole days).
    predictions_retention_s: int = Field(30 * 86_400, ge=1, le=10 * 365 * 86_400)
    audit_expiry: bool = True  # False sets no lifecycle rule: objects are kept
    feature_state_table: str = "rtinfer-feature-state"
    labels_table: str = "rtinfer-labels"
    dead_letter_queue: str = "rtinfer-consumer-dlq"
    # Dead letters too big for SQS keep their body here (claim check); bucket names are global on AWS.
    dead_letter_bucket: str = Field("rtinfer-consumer-dead-letters", pattern=BUCKET_NAME)
    batch_failure_queue: str = "rtinfer-consumer-batch-failures"
    function_name: str = "rtinfer-consumer"
    function_timeout_s: int = Field(60, ge=1, le=900)
    function_memory_mb: int = Field(512, ge=128, le=10240)
    endpoint_name: str = ENDPOINT_NAME
    esm_profile: Literal["latency", "throughput"] = "latency"
    batch_size: int | None = Field(None, ge=1, le=10000)
    batching_window_s: int | None = Field(None, ge=0, le=300)
    parallelization_factor: int | None = Field(None, ge=1, le=10)
    enhanced_fan_out: bool | None = None
    # The enhanced fan-out consumer registered on the input stream (names are per stream).
    stream_consumer: str = Field("rtinfer-consumer-efo", pattern=r"^[a-zA-Z0-9_.-]{1,128}$")
    maximum_retry_attempts: int = Field(5, ge=-1, le=10000)
    maximum_record_age_s: int = Field(3600, ge=-1, le=604800)
    circuit_cooldown_s: float = Field(5.0, gt=0)

    @classmethod
    def named(cls, name: str, **overrides) -> StreamStackSpec:
        """A stack whose every resource is prefixed with `name`, so several can share one account."""
        return cls(
            input_stream=f"{name}-transactions",
            output_stream=f"{name}-predictions",
            audit_bucket=f"{name}-audit".lower(),
            feature_state_table=f"{name}-feature-state",
            labels_table=f"{name}-labels",
            dead_letter_queue=f"{name}-dlq",
            dead_letter_bucket=f"{name}-dead-letters".lower(),
            batch_failure_queue=f"{name}-batch-failures",
            function_name=f"{name}-consumer",
            stream_consumer=f"{name}-efo",
            **overrides,
        )

    @property
    def mapping_profile(self) -> MappingProfile:
        """The profile's settings with the fields this spec sets explicitly in their place."""
        profile = ESM_PROFILES[self.esm_profile]
        return MappingProfile(
            **{
                name: getattr(profile, name) if getattr(self, name) is None else getattr(self, name)
                for name in ("batch_size", "batching_window_s", "parallelization_factor", "enhanced_fan_out")
            }
        )


@dataclass(frozen=True)
class StreamStack:
    input_stream_arn: str
    output_stream_arn: str
    dead_letter_queue_url: str
    audit_bucket: str
    dead_letter_bucket: str
    batch_failure_queue_url: str
    batch_failure_queue_arn: str
    function_arn: str
    mapping_uuid: str
    mapping_source_arn: str  # the input stream, or its enhanced fan-out consumer


def ensure_stream(kinesis, name: str, shards: int) -> str:
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def ensure_table(dynamodb, name: str, hash_key: str) -> None:
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def ensure_ttl(dynamodb, table: str, attribute: str) -> None:
    """TTL on `attribute` of `table`, enabled once (UpdateTimeToLive refuses to repeat a change)."""
    description = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    status, current = description["TimeToLiveStatus"], description.get("AttributeName")
    if status in ("ENABLED", "ENABLING") and current == attribute:
        return
    if status != "DISABLED":
        raise RuntimeError(
            f"table {table} has TTL {status} on attribute {current!r}, not on {attribute!r}: disable it "
            "first (DynamoDB allows one TTL change per hour)"
        )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True}
    )


def expiry_days(retention_s: int) -> int:
    """A retention in seconds as a lifecycle rule's whole days (at least one)."""
    return max(1, math.ceil(retention_s / 86_400))


def ensure_audit_bucket(s3, bucket: str, retention_s: int | None) -> None:
    """The audit bucket, its objects under the predictions prefix expiring after `retention_s`. The
    lifecycle configuration is the bucket's whole one, so each call sets it anew. None sets no rule
    (and leaves one set before: a bucket whose objects must now be kept is an operator's decision)."""
    ensure_bucket(s3, bucket)
    if retention_s is None:
        return
    rule = {
        "ID": AUDIT_EXPIRY_RULE,
        "Filter": {"Prefix": AUDIT_PREFIX},
        "Status": "Enabled",
        "Expiration": {"Days": expiry_days(retention_s)},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})


def ensure_queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def function_environment(spec: StreamStackSpec, dlq_url: str) -> dict:
    """The consumer's environment: what serving.consumer.config reads."""
    return {
        "Variables": {
            "ENDPOINT_NAME": spec.endpoint_name,
            "AUDIT_BUCKET": spec.audit_bucket,
            "FEATURE_STATE_TABLE": spec.feature_state_table,
            "OUTPUT_STREAM": spec.output_stream,
            "DEAD_LETTER_QUEUE_URL": dlq_url,
            "DEAD_LETTER_BUCKET": spec.dead_letter_bucket,
            "CIRCUIT_COOLDOWN_SECONDS": str(spec.circuit_cooldown_s),
            "POWERTOOLS_METRICS_NAMESPACE": "rtinfer",
        }
    }


def ensure_function(lambda_client, spec: StreamStackSpec, zip_path: Path, role_arn: str, dlq_url: str) -> str:
    code = zip_path.read_bytes()
    environment = function_environment(spec, dlq_url)
    try:
        current = lambda_client.get_function(FunctionName=spec.function_name)["Configuration"]
    except lambda_client.exceptions.ResourceNotFoundException:
        created = lambda_client.create_function(
            FunctionName=spec.function_name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=HANDLER,
            Code={"ZipFile": code},
            Timeout=spec.function_timeout_s,
            MemorySize=spec.function_memory_mb,
            Environment=environment,
        )
        return created["FunctionArn"]
    # A function made by an older release lacks variables this code needs: the settings converge too.
    if current.get("Environment", {}).get("Variables") != environment["Variables"]:
        lambda_client.update_function_configuration(FunctionName=spec.function_name, Environment=environment)
    if current["CodeSha256"] != b64encode(hashlib.sha256(code).digest()).decode():
        lambda_client.update_function_code(FunctionName=spec.function_name, ZipFile=code)
    return current["FunctionArn"]


def ensure_stream_consumer(kinesis, stream_arn: str, name: str, timeout_s: float = 120) -> str:
    """The ARN of the enhanced fan-out consumer `name` of the stream, registered if need be, once ACTIVE.

    A consumer still DELETING (deregistered by an earlier switch to shared polling) is waited out and
    registered anew: it gets a new ARN, as on AWS.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            consumer = kinesis.describe_stream_consumer(StreamARN=stream_arn, ConsumerName=name)[
                "ConsumerDescription"
            ]
        except kinesis.exceptions.ResourceNotFoundException:
            with contextlib.suppress(kinesis.exceptions.ResourceInUseException):  # registered meanwhile
                kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
            continue
        if consumer["ConsumerStatus"] == "ACTIVE":
            return consumer["ConsumerARN"]
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"stream consumer {name} of {stream_arn} is {consumer['ConsumerStatus']}, not ACTIVE, "
                f"after {timeout_s:.0f}s"
            )
        time.sleep(0.2)


def retire_stream_consumer(kinesis, stream_arn: str, name: str) -> bool:
    """Deregister the consumer if it exists (enhanced fan-out bills per consumer-shard-hour)."""
    try:
        kinesis.deregister_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
    except kinesis.exceptions.ResourceNotFoundException:
        return False
    return True


def mapping_settings(spec: StreamStackSpec, on_failure_arn: str) -> dict:
    """The updatable settings of the stack's event-source mapping, from the spec's profile."""
    profile = spec.mapping_profile
    return {
        "BatchSize": profile.batch_size,
        "MaximumBatchingWindowInSeconds": profile.batching_window_s,
        "ParallelizationFactor": profile.parallelization_factor,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": spec.maximum_retry_attempts,
        "MaximumRecordAgeInSeconds": spec.maximum_record_age_s,
        "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}},
    }


def ensure_mapping(
    lambda_client, spec: StreamStackSpec, source_arn: str, on_failure_arn: str, cloudwatch=None
) -> str:
    """The function's one event-source mapping, reading `source_arn` (the input stream, or its
    enhanced fan-out consumer) with the spec's settings.

    A mapping's EventSourceArn cannot be changed, so a switch of profile between shared polling and
    enhanced fan-out replaces the mapping: the old one is disabled (Lambda lets its in-flight batches
    finish), the new one starts AT_TIMESTAMP a little before the old one can have left off (see
    `resume_timestamp`), and the old one is deleted. Records in that overlap are delivered twice
    (at-least-once, as Lambda is; the consumer writes by request_id), none is skipped. The function
    is the stack's own, so any other mapping of it is taken for an old one.
    """
    settings = mapping_settings(spec, on_failure_arn)
    existing = [
        mapping
        for mapping in lambda_client.list_event_source_mappings(FunctionName=spec.function_name)[
            "EventSourceMappings"
        ]
        if mapping["State"] != "Deleting"
    ]
    current = [m for m in existing if m["EventSourceArn"] == source_arn]
    others = [m for m in existing if m["EventSourceArn"] != source_arn]
    if current:  # others: left by a switch interrupted after the new mapping was made
        uuid = current[0]["UUID"]
        lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True, **settings)
    else:
        start = {"StartingPosition": "TRIM_HORIZON"}
        resume_at = []
        for old in others:  # a switch of profile: the old mapping hands over
            lambda_client.update_event_source_mapping(UUID=old["UUID"], Enabled=False)
            # LastModified: when it was disabled, now or earlier (nothing was processed since)
            disabled = wait_mapping_state(lambda_client, old["UUID"], "Disabled")
            resume_at.append(resume_timestamp(cloudwatch, spec, old, disabled["LastModified"].timestamp()))
        if resume_at:
            start = {"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": min(resume_at)}
        uuid = lambda_client.create_event_source_mapping(
            EventSourceArn=source_arn, FunctionName=spec.function_name, **start, **settings
        )["UUID"]
    for old in others:
        lambda_client.delete_event_source_mapping(UUID=old["UUID"])
    return uuid


def resume_timestamp(cloudwatch, spec: StreamStackSpec, old_mapping: dict, disabled_at: float) -> float:
    """Where a replacing mapping starts so that it skips nothing the old one left unprocessed.

    Once disabled, the old mapping has invoked every batch it read, and no unprocessed record is
    older than its lag: the largest IteratorAge the function reported while it ran, plus one batch
    (window and function timeout) and a minute of metric granularity. Without CloudWatch (or beyond
    MaximumRecordAgeInSeconds, past which the old mapping gave records up anyway) it is the record age.
    """
    record_age = old_mapping.get("MaximumRecordAgeInSeconds", -1)
    bound = record_age if record_age > 0 else 7 * 86_400  # -1: the stream's retention bounds it
    if cloudwatch is None:
        return disabled_at - bound
    datapoints = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="IteratorAge",
        Dimensions=[{"Name": "FunctionName", "Value": spec.function_name}],
        StartTime=disabled_at - bound,
        EndTime=disabled_at + 60,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    lag_s = max((point["Maximum"] for point in datapoints), default=0.0) / 1000
    batch_s = old_mapping.get("MaximumBatchingWindowInSeconds", 0) + spec.function_timeout_s
    return disabled_at - min(bound, lag_s + batch_s + 60)


def wait_mapping_state(lambda_client, uuid: str, wanted: str, timeout_s: float = 60) -> dict:
    """The mapping once it is in state `wanted`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        mapping = lambda_client.get_event_source_mapping(UUID=uuid)
        state = mapping["State"]
        if state == wanted:
            return mapping
        time.sleep(0.2)
    raise TimeoutError(f"event-source mapping {uuid} is {state}, not {wanted}, after {timeout_s:.0f}s")


def wait_mapping_enabled(lambda_client, uuid: str, timeout_s: float = 60) -> None:
    wait_mapping_state(lambda_client, uuid, "Enabled", timeout_s)


def deploy_stream_stack(clients, spec: StreamStackSpec, zip_path: Path, role_arn: str) -> StreamStack:
    """Everything the stream path needs, in dependency order. `clients(service)` returns a boto3 client."""
    kinesis, dynamodb, sqs, s3, lambda_client = (
        clients(s) for s in ("kinesis", "dynamodb", "sqs", "s3", "lambda")
    )
    input_arn = ensure_stream(kinesis, spec.input_stream, spec.input_shards)
    output_arn = ensure_stream(kinesis, spec.output_stream, spec.output_shards or spec.input_shards)
    ensure_table(dynamodb, spec.feature_state_table, "pk")
    ensure_ttl(dynamodb, spec.feature_state_table, STATE_TTL_ATTRIBUTE)
    ensure_table(dynamodb, spec.labels_table, "request_id")
    dlq_url, _ = ensure_queue(sqs, spec.dead_letter_queue)
    ensure_bucket(s3, spec.dead_letter_bucket)
    ensure_audit_bucket(s3, spec.audit_bucket, spec.predictions_retention_s if spec.audit_expiry else None)
    failures_url, failures_arn = ensure_queue(sqs, spec.batch_failure_queue)
    function_arn = ensure_function(lambda_client, spec, zip_path, role_arn, dlq_url)
    efo = spec.mapping_profile.enhanced_fan_out
    source_arn = ensure_stream_consumer(kinesis, input_arn, spec.stream_consumer) if efo else input_arn
    uuid = ensure_mapping(lambda_client, spec, source_arn, failures_arn, clients("cloudwatch"))
    wait_mapping_enabled(lambda_client, uuid)
    if not efo:
        retire_stream_consumer(kinesis, input_arn, spec.stream_consumer)
    return StreamStack(
        input_arn,
        output_arn,
        dlq_url,
        spec.audit_bucket,
        spec.dead_letter_bucket,
        failures_url,
        failures_arn,
        function_arn,
        uuid,
        source_arn,
    )
