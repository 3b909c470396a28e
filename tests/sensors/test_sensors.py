"""The sensors that act, evaluated as Dagster evaluates them, over real services (the emulator):
the A/B sensor promotes/rolls back on the sequential test and on guardrails, the health sensor rolls
back on CloudWatch error metrics. Predictions and labels are written straight into the real tables.
"""

import contextlib
import json
import time

import dagster as dg
import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.actions import ABTrafficConfig, DeployConfig, run_deploy, run_set_traffic
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from orchestration.model.registry import publish_artifact
from orchestration.stream.stack import ensure_queue, ensure_table
from orchestration.wiring.resources import AwsClients, MonitoringTargets
from sensors.ab import ab_test_sensor
from sensors.health import endpoint_health_sensor
from serving.features import FEATURE_NAMES

GROUP = "sensor-tests"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def ab_world(fast_emulator, tmp_path_factory):
    """An endpoint running an A/B test (production v1, candidate v2), with its tables."""
    emulator = fast_emulator
    sm = emulator.client("sagemaker")
    root = tmp_path_factory.mktemp("sensor-models")
    for version, seed in (("s-v1", 1), ("s-v2", 2)):
        x = np.random.default_rng(seed).uniform(size=(300, len(FEATURE_NAMES)))
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.7), 3)
        packed = pack_model_artifact(
            booster, list(FEATURE_NAMES), 0.5, version, {}, root / version / "m.tar.gz"
        )
        publish_artifact(emulator.client("s3"), sm, emulator.settings, GROUP, packed)
    clients = Clients(sm, emulator.client("cloudwatch"), emulator.client("s3"))
    run_deploy(
        clients,
        emulator.settings,
        DeployConfig(endpoint_name="ab-sensor", package_group=GROUP, model_version="s-v1", instance_count=1),
    )
    run_set_traffic(
        clients,
        emulator.settings,
        ABTrafficConfig(
            endpoint_name="ab-sensor", package_group=GROUP, model_version="s-v2", candidate_weight=0.5
        ),
    )
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, "ab-sensor-predictions", "request_id")
    ensure_table(dynamodb, "ab-sensor-labels", "request_id")
    ensure_queue(emulator.client("sqs"), "ab-sensor-dlq")
    return emulator


def _write(dynamodb, table: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        )


def _traffic(emulator, n_per_arm: int, candidate_misses_frauds: bool, seed: int, prefix: str) -> None:
    """Matured predictions of both arms: the candidate either matches production or misses every fraud."""
    rng = np.random.default_rng(seed)
    now = int(time.time() * 1000)
    predictions, labels = [], []
    for arm in ("production", "candidate"):
        fraud = rng.uniform(size=n_per_arm) < 0.05
        for i in range(n_per_arm):
            caught = fraud[i] and not (arm == "candidate" and candidate_misses_frauds)
            request_id = f"{prefix}-{arm}-{i}"
            event_ms = 1_000_000_000_000 + i * 1000
            predictions.append(
                {
                    "request_id": {"S": request_id},
                    "variant": {"S": arm},
                    "score": {"N": "0.9" if caught else "0.1"},
                    "decision": {"S": "decline" if caught else "approve"},
                    "fallback": {"BOOL": False},
                    "latency_ms": {"N": "900"},
                    "event_ms": {"N": str(event_ms)},
                    "arrival_ms": {"N": str(now)},
                    "predicted_ms": {"N": str(now)},
                    "model_version": {"S": arm},
                }
            )
            labels.append(
                {
                    "request_id": {"S": request_id},
                    "is_fraud": {"BOOL": bool(fraud[i])},
                    "event_ms": {"N": str(event_ms)},
                    "label_available_ms": {"N": str(event_ms + DAY_MS)},
                }
            )
    # One late event moves the replay clock past every label's availability.
    predictions.append(
        {
            **predictions[0],
            "request_id": {"S": f"{prefix}-clock"},
            "event_ms": {"N": str(1_000_000_000_000 + 10 * DAY_MS)},
        }
    )
    dynamodb = emulator.client("dynamodb")
    _write(dynamodb, "ab-sensor-predictions", predictions)
    _write(dynamodb, "ab-sensor-labels", labels)


def _evaluate(emulator, sensor, monkeypatch, cursor=None):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(emulator.home))
    targets = MonitoringTargets(
        endpoint_name="ab-sensor",
        predictions_table="ab-sensor-predictions",
        labels_table="ab-sensor-labels",
        dead_letter_queue="ab-sensor-dlq",
    )
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"aws": AwsClients(), "targets": targets}
        )
        started = time.monotonic()
        result = sensor(context)
        return result, context.cursor, time.monotonic() - started


def test_ab_sensor_rolls_back_a_clearly_worse_candidate_once(ab_world, monkeypatch):
    _traffic(ab_world, 1500, candidate_misses_frauds=True, seed=1, prefix="worse")
    result, cursor, seconds = _evaluate(ab_world, ab_test_sensor, monkeypatch)
    [request] = result.run_requests
    assert request.job_name == "rollback"
    assert request.run_key == "ab:ab-sensor:s-v2:ROLLBACK"
    [observation] = result.asset_events
    assert observation.metadata["verdict"].value == "ROLLBACK"
    assert seconds < 30  # well inside a sensor tick's 60 s

    state = json.loads(cursor)["state"]
    again, next_cursor, _ = _evaluate(ab_world, ab_test_sensor, monkeypatch, cursor)  # nothing new matured
    kept = json.loads(next_cursor)["state"]
    assert {k: v for k, v in kept.items() if k != "looks"} == {k: v for k, v in state.items() if k != "looks"}
    assert [r.run_key for r in again.run_requests] == [
        "ab:ab-sensor:s-v2:ROLLBACK"
    ]  # same key: launched once


def test_health_sensor_rolls_back_when_the_candidate_errors(ab_world, monkeypatch):
    runtime = ab_world.client("sagemaker-runtime")
    good, bad = ",".join(["0.5"] * len(FEATURE_NAMES)), "0.5,0.5"  # bad: the model refuses the row
    for i in range(100):
        with contextlib.suppress(runtime.exceptions.ModelError):
            runtime.invoke_endpoint(
                EndpointName="ab-sensor",
                TargetVariant="candidate",
                ContentType="text/csv",
                Body=bad if i % 2 else good,
            )
    time.sleep(2.5)  # the emulator publishes its per-variant metrics once a second
    result, _, _ = _evaluate(ab_world, endpoint_health_sensor, monkeypatch)
    [request] = result.run_requests
    assert request.job_name == "rollback"
    assert "candidate: error rate" in request.tags["rtinfer/reason"]
