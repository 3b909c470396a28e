"""Fixtures of the sensor tests: registered models, an endpoint running an A/B test per test module (its
own endpoint, audit bucket, tables and queue, so the modules never see each other's metrics), and a
sensor evaluator."""

import time

import dagster as dg
import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.actions import ABTrafficConfig, DeployConfig, run_deploy, run_set_traffic
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from orchestration.model.registry import publish_artifact
from orchestration.stream.stack import ensure_bucket, ensure_queue, ensure_table
from orchestration.wiring.resources import AwsClients, MonitoringTargets
from serving.features import FEATURE_NAMES

GROUP = "sensor-tests"


@pytest.fixture(scope="session")
def sensor_models(fast_emulator, tmp_path_factory):
    """Production s-v1 and candidate s-v2, registered and Approved once per session."""
    sm = fast_emulator.client("sagemaker")
    root = tmp_path_factory.mktemp("sensor-models")
    for version, seed in (("s-v1", 1), ("s-v2", 2)):
        x = np.random.default_rng(seed).uniform(size=(300, len(FEATURE_NAMES)))
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.7), 3)
        packed = pack_model_artifact(
            booster, list(FEATURE_NAMES), 0.5, version, {}, root / version / "m.tar.gz"
        )
        publish_artifact(fast_emulator.client("s3"), sm, fast_emulator.settings, GROUP, packed)
    return GROUP


@pytest.fixture(scope="module")
def ab_world(fast_emulator, sensor_models, request):
    """An endpoint running an A/B test (production s-v1, candidate s-v2), with its tables and DLQ.

    The endpoint is named after the test module; `ab_world.targets` names its resources.
    """
    emulator = fast_emulator
    endpoint = "ab-" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    clients = Clients(emulator.client("sagemaker"), emulator.client("cloudwatch"), emulator.client("s3"))
    run_deploy(
        clients,
        emulator.settings,
        DeployConfig(endpoint_name=endpoint, package_group=GROUP, model_version="s-v1", instance_count=1),
    )
    run_set_traffic(
        clients,
        emulator.settings,
        ABTrafficConfig(
            endpoint_name=endpoint, package_group=GROUP, model_version="s-v2", candidate_weight=0.5
        ),
    )
    targets = MonitoringTargets(
        endpoint_name=endpoint,
        audit_bucket=f"{endpoint}-audit",
        labels_table=f"{endpoint}-labels",
        dead_letter_queue=f"{endpoint}-dlq",
    )
    dynamodb = emulator.client("dynamodb")
    ensure_bucket(emulator.client("s3"), targets.audit_bucket)
    ensure_table(dynamodb, targets.labels_table, "request_id")
    ensure_queue(emulator.client("sqs"), targets.dead_letter_queue)
    return ABWorld(emulator, targets)


class ABWorld:
    def __init__(self, emulator, targets: MonitoringTargets):
        self.emulator, self.targets = emulator, targets

    def client(self, service: str):
        return self.emulator.client(service)

    def evaluate(self, sensor, monkeypatch, cursor=None, targets: MonitoringTargets | None = None):
        """Evaluate `sensor` as Dagster would: (result, cursor after the tick, seconds the tick took)."""
        monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(self.emulator.port))
        monkeypatch.setenv("RTINFER_HOME", str(self.emulator.home))
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources={"aws": AwsClients(), "targets": targets or self.targets},
            )
            started = time.monotonic()
            result = sensor(context)
            return result, context.cursor, time.monotonic() - started
