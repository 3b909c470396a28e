"""Usage read through CloudWatch from a real stream stack on the emulator (packaged consumer as a Lambda
function, a deployed endpoint): what the services counted for N records, priced, and shown."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
import xgboost as xgb
from rich.console import Console

from orchestration.app.status_cost import print_cost
from orchestration.endpoint.actions import deploy_artifact
from orchestration.endpoint.strategies import Clients as AwsClients
from orchestration.model.artifact import pack_model_artifact
from orchestration.monitoring.cost_report import cost_report, report_frame
from orchestration.monitoring.prices import load_price_table
from orchestration.monitoring.usage import Window, read_stack_usage, read_usage, stack_resources
from orchestration.stream.accounting import wait_until_accounted
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.stack import StreamStackSpec, deploy_stream_stack
from serving.features import FEATURE_NAMES

RECORDS = 60
WAIT_S = 180


@pytest.fixture(scope="module")
def traffic(emulator, tmp_path_factory):
    """A stack that took RECORDS records, once all are accounted for: (spec, window start, records)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(500, len(FEATURE_NAMES)))
    y = (x[:, 0] > 0.7).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=y), 5)
    root = tmp_path_factory.mktemp("usage")
    packed = pack_model_artifact(booster, list(FEATURE_NAMES), 0.5, "usage-v1", {}, root / "model.tar.gz")
    aws = AwsClients(*(emulator.client(s) for s in ("sagemaker", "cloudwatch", "s3")))
    endpoint = deploy_artifact(aws, emulator.settings, packed, "usage-ep", "usage-tests").endpoint_name
    name = f"u{uuid.uuid4().hex[:6]}"
    spec = StreamStackSpec.named(name, endpoint_name=endpoint, input_shards=1, batching_window_s=0)
    stack = deploy_stream_stack(
        emulator.client, spec, build_lambda_zip(root / "consumer.zip"), emulator.settings.sagemaker_role_arn
    )
    started = time.time()
    records = [
        {
            "Data": json.dumps(
                {
                    "request_id": f"{name}-{i}",
                    "customer_id": f"C{i % 7}",
                    "terminal_id": f"T{i % 3}",
                    "merchant_category": "grocery",
                    "amount": 20.0 + i,
                    "timestamp": f"2026-01-05T10:00:{i % 60:02d}.000Z",
                    "device_id": "dev-1",
                    "distance_from_home": 2.5,
                }
            ).encode(),
            "PartitionKey": f"C{i % 7}",
        }
        for i in range(RECORDS)
    ]
    emulator.client("kinesis").put_records(StreamName=spec.input_stream, Records=records)
    account = wait_until_accounted(
        emulator.client("s3"),
        emulator.client("sqs"),
        spec.audit_bucket,
        stack.dead_letter_queue_url,
        RECORDS,
        WAIT_S,
    )
    assert account.predictions + account.dead_lettered == RECORDS, account
    return spec, started, records


def _clients(emulator):
    return [emulator.client(s) for s in ("cloudwatch", "sagemaker", "lambda", "kinesis")]


def _settled_usage(emulator, spec, started):
    """The stack's usage once every count the tests read has arrived: the audit object is written
    before the invocation ends, so the function's own metrics can land after the records are accounted
    (metrics are flushed every half second, the log tailed as often)."""
    deadline = time.monotonic() + 60
    while True:
        usage = read_stack_usage(*_clients(emulator), spec, Window.last(time.time() - started + 60))
        streams = {s.name: s for s in usage.streams}
        settled = (
            streams[spec.input_stream].records == RECORDS
            and streams[spec.output_stream].records > 0
            and usage.log_bytes > 0
            and usage.lambda_requests >= 1
            and usage.dynamodb_write_units > 0
            and usage.dynamodb_read_units > 0
        )
        if settled or time.monotonic() > deadline:
            return usage
        time.sleep(0.5)


def test_the_stack_usage_is_what_the_services_counted(emulator, traffic):
    spec, started, records = traffic
    usage = _settled_usage(emulator, spec, started)
    streams = {s.name: s for s in usage.streams}
    sent = streams[spec.input_stream]
    assert sent.records == RECORDS
    assert sent.bytes == sum(len(r["Data"]) + len(r["PartitionKey"]) for r in records)
    assert sent.put_units == RECORDS  # every record under 25 KB is one PUT payload unit
    assert 1 <= streams[spec.output_stream].records <= RECORDS  # one per prediction, or aggregated
    assert [s.shards for s in usage.streams] == [1, 1]
    assert usage.function_memory_mb == spec.function_memory_mb
    assert usage.function_architecture == "x86_64"
    assert usage.lambda_requests >= 1 and usage.lambda_duration_ms > 0
    assert usage.dynamodb_write_units > 0 and usage.dynamodb_read_units > 0
    assert [(v.instances, v.share) for v in usage.variants] == [(1, 1.0)]
    assert usage.log_bytes > 0
    assert usage.cloudwatch_metrics >= 5  # the consumer's EMF metrics


def test_a_pattern_on_its_own_resources_is_read_the_same_way_with_its_own_count(emulator, traffic):
    spec, started, _ = traffic
    usage = read_usage(
        *_clients(emulator),
        stack_resources(spec),
        Window.last(time.time() - started + 60),
        predictions=RECORDS,
    )
    assert usage.predictions == RECORDS
    assert {s.name: s.records for s in usage.streams}[spec.input_stream] == RECORDS


def test_the_cost_is_priced_and_shown(emulator, traffic, monkeypatch):
    spec, started, _ = traffic
    usage = _settled_usage(emulator, spec, started)
    report = cost_report(usage, load_price_table())
    frame = report_frame(report)
    assert frame.loc["total", "$/M predictions"] > 0
    assert {"$/month at 50,000/s", "$/month at 1,000/s"} <= set(frame.columns)
    for name in ("SageMaker instances", "Kinesis PUT units", "DynamoDB writes", "Lambda duration"):
        assert frame.loc[name, "$/M predictions"] > 0, name
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(emulator.home))
    console = Console(record=True, width=200)
    print_cost(console, spec)
    shown = console.export_text()
    assert "Cost, last 15 minutes" in shown and "SageMaker instances" in shown and "total" in shown


def test_the_stream_cost_asset_carries_the_breakdown_and_its_chart(emulator, traffic, monkeypatch):
    import dagster as dg

    from assets.cost import stream_cost
    from orchestration.wiring.resources import AwsClients, MonitoringTargets

    spec, _, _ = traffic
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(emulator.home))
    targets = MonitoringTargets(
        endpoint_name=spec.endpoint_name,
        input_stream=spec.input_stream,
        output_stream=spec.output_stream,
        audit_bucket=spec.audit_bucket,
        feature_state_table=spec.feature_state_table,
        labels_table=spec.labels_table,
        dead_letter_queue=spec.dead_letter_queue,
        dead_letter_bucket=spec.dead_letter_bucket,
        batch_failure_queue=spec.batch_failure_queue,
        function_name=spec.function_name,
    )
    result = dg.materialize([stream_cost], resources={"aws": AwsClients(), "targets": targets})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("stream_cost")
    metadata = materialization.metadata
    assert metadata["predictions"].value >= RECORDS  # the consumer's own count, service-wide
    assert metadata["total $/M"].value > 0
    assert "SageMaker instances" in metadata["breakdown"].value
    assert metadata["cost_per_million"].value.startswith("![cost](data:image/svg+xml;base64,")


def test_status_says_what_cannot_be_priced(emulator, traffic, monkeypatch, tmp_path):
    from orchestration.monitoring.prices import DEFAULT_PRICE_TABLE, PRICE_TABLE_ENV

    spec, _, _ = traffic
    table = json.loads(DEFAULT_PRICE_TABLE.read_text())
    table["sagemaker_instance_hour"] = {"ml.c5.large": table["sagemaker_instance_hour"]["ml.c5.large"]}
    own = tmp_path / "prices.json"
    own.write_text(json.dumps(table))
    monkeypatch.setenv(PRICE_TABLE_ENV, str(own))
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(emulator.home))
    console = Console(record=True, width=300)
    print_cost(console, spec)
    shown = " ".join(console.export_text().split())
    assert "cannot be priced" in shown and "'ml.m5.large'" in shown, shown
