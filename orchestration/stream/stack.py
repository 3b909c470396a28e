"""Create (or find) the stream path's resources with boto3: streams, tables, queues, the audit and
dead-letter buckets, the function and its event-source mapping. Idempotent: every call can be repeated and
converges on the same stack.

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

from pydantic import BaseModel, ConfigDict, Field

from orchestration.buckets import ensure_bucket
from orchestration.endpoint.names import ENDPOINT_NAME
from orchestration.stream.packaging import HANDLER
from serving.consumer.audit import PREFIX as AUDIT_PREFIX
from serving.consumer.state_store import STATE_TTL_ATTRIBUTE

BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
AUDIT_EXPIRY_RULE = "expire-predictions"


class StreamStackSpec(BaseModel):
    """Names and knobs of the stream path; the defaults are what the demo deploys."""

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
    batch_size: int = Field(500, ge=1, le=10000)
    batching_window_s: int = Field(1, ge=0, le=300)
    parallelization_factor: int = Field(2, ge=1, le=10)
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
            **overrides,
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


def _function_environment(spec: StreamStackSpec, dlq_url: str) -> dict:
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
    environment = _function_environment(spec, dlq_url)
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


def ensure_mapping(lambda_client, spec: StreamStackSpec, stream_arn: str, on_failure_arn: str) -> str:
    existing = lambda_client.list_event_source_mappings(
        EventSourceArn=stream_arn, FunctionName=spec.function_name
    )
    settings = {
        "BatchSize": spec.batch_size,
        "MaximumBatchingWindowInSeconds": spec.batching_window_s,
        "ParallelizationFactor": spec.parallelization_factor,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": spec.maximum_retry_attempts,
        "MaximumRecordAgeInSeconds": spec.maximum_record_age_s,
        "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}},
    }
    if existing["EventSourceMappings"]:
        uuid = existing["EventSourceMappings"][0]["UUID"]
        lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True, **settings)
        return uuid
    created = lambda_client.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=spec.function_name,
        StartingPosition="TRIM_HORIZON",
        **settings,
    )
    return created["UUID"]


def wait_mapping_enabled(lambda_client, uuid: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = lambda_client.get_event_source_mapping(UUID=uuid)["State"]
        if state == "Enabled":
            return
        time.sleep(0.2)
    raise TimeoutError(f"event-source mapping {uuid} is {state}, not Enabled, after {timeout_s:.0f}s")


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
    uuid = ensure_mapping(lambda_client, spec, input_arn, failures_arn)
    wait_mapping_enabled(lambda_client, uuid)
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
    )
