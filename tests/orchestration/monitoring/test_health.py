"""Endpoint and consumer health read from real CloudWatch metrics (put into the emulator) and an SQS
queue's depth, and the limits that turn figures into breaches."""

import contextlib
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given
from hypothesis import strategies as st

from orchestration.endpoint.actions import deploy_artifact
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from orchestration.monitoring.health import (
    HEALTH_WINDOW_S,
    HealthLimits,
    HealthReading,
    health_breaches,
    judging_window_s,
    read_health,
)


def _put(cw, namespace: str, metric: str, dimensions: dict, values: list[float]) -> None:
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": datetime.now(tz=UTC),
                "Value": value,
            }
            for value in values
        ],
    )


@pytest.fixture(scope="module")
def reading(emulator, tmp_path_factory):
    """60 calls to a real endpoint, 6 of them refused by the model; the consumer's EMF figures put as the
    consumer would (namespace rtinfer); 3 letters in the DLQ. AWS/ namespaces are AWS's to publish."""
    x = np.random.default_rng(0).uniform(size=(100, 3))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 2)
    path = tmp_path_factory.mktemp("health") / "h-v1" / "model.tar.gz"
    packed = pack_model_artifact(booster, ["a", "b", "c"], 0.5, "h-v1", {}, path)
    clients = Clients(emulator.client("sagemaker"), emulator.client("cloudwatch"), emulator.client("s3"))
    deploy_artifact(clients, emulator.settings, packed, "health-ep", "health-tests")
    runtime = emulator.client("sagemaker-runtime")
    for i in range(60):
        with contextlib.suppress(runtime.exceptions.ModelError):
            body = "0.5,0.5" if i % 10 == 0 else "0.1,0.2,0.3"  # a 2-value row is refused
            runtime.invoke_endpoint(EndpointName="health-ep", ContentType="text/csv", Body=body)
    cw, sqs = emulator.client("cloudwatch"), emulator.client("sqs")
    service = {"service": "fraud-consumer"}
    _put(cw, "rtinfer", "RecordsIn", service, [150.0, 50.0])
    _put(cw, "rtinfer", "Fallbacks", service, [20.0])
    _put(cw, "rtinfer", "DeadLettered", service, [2.0])
    dlq = sqs.create_queue(QueueName="health-dlq")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"letter {i}")
    deadline = time.monotonic() + 60  # the emulator publishes endpoint metrics about once a second
    while True:
        found = read_health(cw, sqs, "health-ep", ["production", "candidate"], "health-fn", dlq)
        if found.variants["production"]["invocations"] >= 60 or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_reading_has_each_variants_figures(reading):
    production = reading.variants["production"]
    assert production["invocations"] == 60
    assert production["errors"] == 6  # a failed call counts in both error metrics: the larger is the count
    assert production["error_rate"] == pytest.approx(0.1)
    assert 0 < production["p99_model_latency_ms"] < 250
    assert reading.variants["candidate"] == {
        "invocations": 0.0,
        "errors": 0.0,
        "error_rate": 0.0,
        "p99_model_latency_ms": 0.0,
    }


def test_reading_has_the_consumers_figures_and_the_dlq_depth(reading):
    assert reading.consumer["records_in"] == 200
    assert reading.consumer["fallback_rate"] == pytest.approx(0.1)
    assert reading.consumer["dead_letter_rate"] == pytest.approx(0.01)
    assert reading.consumer["iterator_age_ms"] == 0  # no mapping reads this function's stream
    assert reading.dead_letter_queue_depth == 3
    metadata = reading.as_metadata()
    assert metadata["production.error_rate"] == pytest.approx(0.1) and metadata["dlq_depth"] == 3


def test_breaches_name_each_figure_over_its_limit(reading):
    assert health_breaches(reading, HealthLimits(min_invocations=50)) == [
        "production: error rate 0.100 > 0.02",
        "consumer: fallback rate 0.100 > 0.05",
    ]
    assert health_breaches(reading, HealthLimits(min_invocations=61)) == [
        "consumer: fallback rate 0.100 > 0.05",  # 60 calls say nothing about a rate below 61
    ]


def test_nothing_read_is_healthy(emulator):
    cw, sqs = emulator.client("cloudwatch"), emulator.client("sqs")
    dlq = sqs.create_queue(QueueName="health-quiet-dlq")["QueueUrl"]
    quiet = read_health(cw, sqs, "health-quiet", ["production"], "quiet-fn", dlq)
    assert quiet.variants["production"] == {
        "invocations": 0.0,
        "errors": 0.0,
        "error_rate": 0.0,
        "p99_model_latency_ms": 0.0,
    }
    # The consumer's figures are per service, not per endpoint: only they can breach here.
    assert [b for b in health_breaches(quiet, HealthLimits()) if not b.startswith("consumer:")] == []


def test_limits_are_the_callers_to_set():
    reading = HealthReading(
        variants={"production": {"invocations": 10, "error_rate": 0.5, "p99_model_latency_ms": 1}},
        consumer={"records_in": 10, "fallback_rate": 0.5, "dead_letter_rate": 0.5, "iterator_age_ms": 0},
    )
    assert health_breaches(reading, HealthLimits()) == []
    slow = HealthReading(
        variants={"candidate": {"invocations": 1, "error_rate": 0.0, "p99_model_latency_ms": 300.0}},
        consumer={"iterator_age_ms": 200_000.0},
    )
    assert health_breaches(slow, HealthLimits()) == [
        "candidate: p99 model latency 300 ms > 250 ms",
        "consumer: iterator age 200000 ms > 120000 ms",
    ]
    assert health_breaches(reading, HealthLimits(min_invocations=10)) == [
        "production: error rate 0.500 > 0.02",
        "consumer: fallback rate 0.500 > 0.05",
        "consumer: DLQ rate 0.500 > 0.05",
    ]


def test_the_judging_window_covers_only_the_current_layouts_whole_minutes():
    now = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
    # changed at 11:59:48: the minute from 11:59 also holds the previous layout's traffic
    assert judging_window_s((now - timedelta(seconds=42)).isoformat(), now) == 30
    assert judging_window_s(datetime(2026, 12, 1, 11, 59, tzinfo=UTC).isoformat(), now) == 90  # on the minute
    # changed at 12:00:10: its first whole minute is not over yet
    assert judging_window_s((now - timedelta(seconds=20)).isoformat(), now) == 0
    assert judging_window_s((now - timedelta(hours=3)).isoformat(), now) == HEALTH_WINDOW_S
    assert judging_window_s((now + timedelta(seconds=5)).isoformat(), now) == 0  # a clock ahead of ours


@given(
    layout_at=st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
    age_s=st.floats(-120, 3 * HEALTH_WINDOW_S),
)
def test_no_minute_the_previous_layout_served_in_is_judged(layout_at, age_s):
    """CloudWatch answers from now - window rounded down to its minute: that minute began at or after
    the change, and at most the minute the change fell in is given up."""
    now = layout_at + timedelta(seconds=age_s)
    window_s = judging_window_s(layout_at.isoformat(), now)
    assert 0 <= window_s <= HEALTH_WINDOW_S
    if window_s:
        assert (now - timedelta(seconds=window_s)).replace(second=0, microsecond=0) >= layout_at
    assert window_s >= min(HEALTH_WINDOW_S, age_s - 61)
