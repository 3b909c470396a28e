"""The rollback sensors of sensors/health.py: endpoint health over real CloudWatch metrics (the emulator's),
and the failed-run sensor fed the real events Dagster would give it."""

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from orchestration.endpoint.actions import DeployConfig, run_deploy
from orchestration.endpoint.strategies import Clients
from orchestration.wiring.resources import MonitoringTargets
from sensors.health import endpoint_health_sensor
from serving.features import FEATURE_NAMES

METRICS_DEADLINE_S = 60  # the emulator publishes its per-variant metrics about once a second


def _candidate_invocations(cloudwatch, endpoint: str) -> float:
    end = datetime.now(tz=UTC) + timedelta(minutes=1)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": "candidate"},
        ],
        StartTime=end - timedelta(minutes=10),
        EndTime=end,
        Period=660,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in points)


def _age_layout(ab_world, seconds: float) -> None:
    """Record the endpoint's current layout as having taken effect `seconds` ago (the history is data
    in S3; this is what it would hold had the test waited)."""
    s3, bucket = ab_world.client("s3"), ab_world.emulator.settings.bucket
    key = f"deployments/{ab_world.targets.endpoint_name}.json"
    entries = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    entries[-1]["at"] = (datetime.now(tz=UTC) - timedelta(seconds=seconds)).isoformat()
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(entries).encode())


def test_health_sensor_waits_until_the_current_layout_has_its_own_traffic(ab_world, monkeypatch):
    # Right after a change (here: the A/B split), the window's metrics were earned by the layout before
    # it, and a candidate just rolled back must not get production rolled back too.
    _age_layout(ab_world, seconds=20)
    result, _, _ = ab_world.evaluate(endpoint_health_sensor, monkeypatch)
    assert result.skip_message.startswith(
        f"waiting: {ab_world.targets.endpoint_name}'s layout (set_traffic at "
    )
    seconds = int(result.skip_message.split(" has ")[1].split(" s ")[0])
    assert 0 <= seconds <= 20 and result.skip_message.endswith("of its own traffic; judging it takes 60 s")


def test_health_sensor_rolls_back_when_the_candidate_errors(ab_world, monkeypatch):
    endpoint = ab_world.targets.endpoint_name
    runtime = ab_world.client("sagemaker-runtime")
    good, bad = ",".join(["0.5"] * len(FEATURE_NAMES)), "0.5,0.5"  # bad: the model refuses the row
    for i in range(100):
        with contextlib.suppress(runtime.exceptions.ModelError):
            runtime.invoke_endpoint(
                EndpointName=endpoint,
                TargetVariant="candidate",
                ContentType="text/csv",
                Body=bad if i % 2 else good,
            )
    cloudwatch = ab_world.client("cloudwatch")
    deadline = time.monotonic() + METRICS_DEADLINE_S
    while _candidate_invocations(cloudwatch, endpoint) < 100 and time.monotonic() < deadline:
        time.sleep(0.2)
    _age_layout(ab_world, seconds=120)  # the A/B layout has served for two minutes
    result, _, _ = ab_world.evaluate(endpoint_health_sensor, monkeypatch)
    [request] = result.run_requests
    assert request.job_name == "rollback"
    assert "candidate: error rate" in request.tags["rtinfer/reason"]
    assert request.run_key.startswith(f"health:{endpoint}:{endpoint}-")  # keyed by the config it undoes


def test_health_sensor_skips_an_endpoint_with_nothing_deployed(ab_world, monkeypatch):
    result, _, _ = ab_world.evaluate(
        endpoint_health_sensor, monkeypatch, targets=MonitoringTargets(endpoint_name="nothing-here")
    )
    assert result.skip_message == "nothing deployed on nothing-here yet"


def _deploy_config(endpoint: str, group: str, version: str, **policy) -> dict:
    config = {"endpoint_name": endpoint, "package_group": group, "model_version": version, **policy}
    return {"ops": {"deploy_version": {"config": config}}}


@pytest.fixture
def registered_pair(fast_emulator, sensor_models, monkeypatch):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(fast_emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(fast_emulator.home))
    return fast_emulator, sensor_models  # the emulator, and the package group of s-v1 and s-v2


def test_a_deployment_run_that_failed_before_touching_the_endpoint_changes_nothing(
    registered_pair, failed_deploy_tick
):
    emulator, group = registered_pair
    clients = Clients(*(emulator.client(name) for name in ("sagemaker", "cloudwatch", "s3")))
    config = DeployConfig(
        endpoint_name="untouched", package_group=group, model_version="s-v1", instance_count=1
    )
    before = run_deploy(clients, emulator.settings, config)
    # A typo'd version: the run fails looking it up, before any endpoint call.
    result, tick = failed_deploy_tick(_deploy_config("untouched", group, "s-v9"))
    assert isinstance(tick, dg.SkipReason)
    assert tick.skip_message == (
        f"run {result.run_id} of deploy_model failed but left untouched as recorded "
        f"({before.endpoint_config_name}): nothing to roll back"
    )
    live = emulator.client("sagemaker").describe_endpoint(EndpointName="untouched")
    assert live["EndpointConfigName"] == before.endpoint_config_name


def test_a_deployment_run_that_failed_mid_change_is_rolled_back_with_its_reason(
    registered_pair, failed_deploy_tick
):
    emulator, group = registered_pair
    clients = Clients(*(emulator.client(name) for name in ("sagemaker", "cloudwatch", "s3")))
    config = DeployConfig(
        endpoint_name="half-way", package_group=group, model_version="s-v1", instance_count=1
    )
    before = run_deploy(clients, emulator.settings, config)
    # The canary bakes for 300 s x 0.02 = 6 s; the run gives up waiting after 1 s, mid-update.
    result, request = failed_deploy_tick(
        _deploy_config("half-way", group, "s-v2", strategy="CANARY", wait_seconds=1, instance_count=1)
    )
    assert request.job_name == "rollback"
    assert request.run_key == f"failed-run:{result.run_id}"
    assert request.run_config["ops"]["roll_back"]["config"]["endpoint_name"] == "half-way"
    reason = request.tags["rtinfer/reason"]
    assert reason.startswith(f"run {result.run_id} of deploy_model failed mid-change: endpoint half-way is ")
    assert before.endpoint_config_name in reason or "Updating" in reason
    assert request.tags["rtinfer/sensor"] == "failed_deployment_rollback"
    assert request.tags["rtinfer/decision"] == "ROLLBACK"
