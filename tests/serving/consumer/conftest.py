"""A scoring endpoint and the stream path's tables and queues on the session emulator."""

import base64
import json
import uuid
from itertools import count

import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.actions import deploy_artifact
from orchestration.endpoint.strategies import Clients as AwsClients
from orchestration.model.artifact import pack_model_artifact
from orchestration.stream.audit_log import list_keys, read_objects
from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS, read_dead_letter
from orchestration.stream.stack import (
    StreamStackSpec,
    ensure_bucket,
    ensure_queue,
    ensure_stream,
    ensure_table,
)
from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.clients import Clients
from serving.consumer.config import ConsumerConfig
from serving.consumer.scoring import EndpointScorer
from serving.features import FEATURE_NAMES

_SEQUENCE = count(10**20)


@pytest.fixture(scope="session")
def fraud_endpoint(emulator, tmp_path_factory) -> str:
    """A model over the real feature schema: it scores high when amount is high."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(2000, len(FEATURE_NAMES)))
    x[:, 0] *= 1000
    y = (x[:, 0] > 700).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label=y), 20)
    out = tmp_path_factory.mktemp("consumer-model") / "model.tar.gz"
    packed = pack_model_artifact(booster, list(FEATURE_NAMES), 0.5, "consumer-test-v1", {}, out)
    aws = AwsClients(*(emulator.client(s) for s in ("sagemaker", "cloudwatch", "s3")))
    return deploy_artifact(aws, emulator.settings, packed, "consumer-test", "consumer-tests").endpoint_name


@pytest.fixture
def stack(emulator, fraud_endpoint) -> StreamStackSpec:
    """Fresh tables, streams and queues per test, so counts start at zero."""
    spec = StreamStackSpec.named(f"c{uuid.uuid4().hex[:8]}", endpoint_name=fraud_endpoint)
    ensure_stream(emulator.client("kinesis"), spec.output_stream, 1)
    ensure_bucket(emulator.client("s3"), spec.audit_bucket)
    ensure_table(emulator.client("dynamodb"), spec.feature_state_table, "pk")
    ensure_queue(emulator.client("sqs"), spec.dead_letter_queue)
    ensure_bucket(emulator.client("s3"), spec.dead_letter_bucket)
    return spec


@pytest.fixture
def consumer_config(emulator, stack) -> ConsumerConfig:
    dlq_url = emulator.client("sqs").get_queue_url(QueueName=stack.dead_letter_queue)["QueueUrl"]
    return ConsumerConfig(
        endpoint_name=stack.endpoint_name,
        audit_bucket=stack.audit_bucket,
        feature_state_table=stack.feature_state_table,
        output_stream=stack.output_stream,
        dead_letter_queue_url=dlq_url,
        dead_letter_bucket=stack.dead_letter_bucket,
        dead_letter_max_inline_bytes=262_144,
        max_rows_per_invoke=50,
        max_invoke_bytes=1_000_000,
        invoke_attempts=3,
        circuit_failure_threshold=2,
        circuit_cooldown_s=0.5,
        fallback_amount=500.0,
        fallback_distance_km=50.0,
    )


@pytest.fixture
def clients(emulator) -> Clients:
    return Clients(*(emulator.client(s) for s in ("sagemaker-runtime", "dynamodb", "kinesis", "sqs", "s3")))


class RecordFactory:
    """Kinesis records in the shape Lambda's event carries, with increasing sequence numbers."""

    def raw(self, data: bytes, partition_key: str = "C1", shard: str = "shardId-000000000000") -> dict:
        sequence = str(next(_SEQUENCE)) + "0" * 36
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": partition_key,
                "sequenceNumber": sequence,
                "data": base64.b64encode(data).decode(),
                "approximateArrivalTimestamp": 1767607200.0,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{sequence}",
            "eventName": "aws:kinesis:record",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/in",
            "awsRegion": "us-east-1",
        }

    def payload(self, i: int, customer: str = "C1", amount: float = 20.0, minute: int = 0) -> dict:
        return {
            "request_id": f"req-{i}",
            "customer_id": customer,
            "terminal_id": f"T{i % 3}",
            "merchant_category": "grocery",
            "amount": amount,
            "timestamp": f"2026-01-05T10:{minute:02d}:{i % 60:02d}.000Z",
            "device_id": "dev-1",
            "distance_from_home": 2.5,
        }

    def event(self, i: int, **overrides) -> dict:
        payload = self.payload(i, **overrides)
        return self.raw(json.dumps(payload).encode(), payload["customer_id"])


@pytest.fixture
def records() -> RecordFactory:
    return RecordFactory()


@pytest.fixture
def make_scorer(clients, consumer_config):
    """`make_scorer(endpoint_name=None, breaker=None, runtime=None, **limits)`: an EndpointScorer as the
    handler builds one, on the test stack's settings unless told otherwise."""

    def make(endpoint_name=None, breaker=None, runtime=None, time_left_s=lambda: 60.0, **limits):
        return EndpointScorer(
            runtime or clients.runtime,
            endpoint_name or consumer_config.endpoint_name,
            breaker
            or CircuitBreaker(consumer_config.circuit_failure_threshold, consumer_config.circuit_cooldown_s),
            limits.get("max_rows", consumer_config.max_rows_per_invoke),
            limits.get("max_bytes", consumer_config.max_invoke_bytes),
            limits.get("attempts", consumer_config.invoke_attempts),
            time_left_s=time_left_s,
        )

    return make


@pytest.fixture
def audit_objects(clients):
    """`audit_objects(bucket)`: every audit object's rows by key, in key order."""

    def read(bucket: str) -> dict[str, list[dict]]:
        return read_objects(clients.s3, bucket, list_keys(clients.s3, bucket))

    return read


@pytest.fixture
def stored_predictions(audit_objects):
    """`stored_predictions(bucket)`: the audit objects' rows by request id (a request in two rows is an
    error here: these tests send each request once)."""

    def read(bucket: str) -> dict[str, dict]:
        rows = [row for rows in audit_objects(bucket).values() for row in rows]
        by_request = {row["request_id"]: row for row in rows}
        assert len(by_request) == len(rows), "a request has two rows"
        return by_request

    return read


@pytest.fixture
def received_letters(clients):
    """`received_letters(queue_url)`: every message on the queue read back as a DeadLetter, claim-checked
    bodies fetched from S3 (received, so hidden after)."""

    def read(queue_url: str) -> list:
        letters = []
        while True:
            batch = clients.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, **RECEIVE_ARGUMENTS
            )
            if not batch.get("Messages"):
                return letters
            letters += [read_dead_letter(message, clients.s3) for message in batch["Messages"]]

    return read


@pytest.fixture
def dead_letters(received_letters):
    """`dead_letters(queue_url)`: every letter on the queue as the JSON object the consumer wrote."""
    return lambda queue_url: [letter.body for letter in received_letters(queue_url)]


class Clock:
    """A monotonic clock the test moves by hand, for the circuit breaker's cool-down."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()
