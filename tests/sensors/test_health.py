"""The rollback sensors of sensors/health.py: endpoint health over real CloudWatch metrics (the emulator's),
and the failed-run sensor fed the real events Dagster would give it."""

import contextlib
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from jobs.endpoint import deploy_model
from orchestration.wiring.resources import AwsClients, MonitoringTargets
from sensors.health import endpoint_health_sensor, failed_deployment_rollback
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


def test_a_deployment_run_that_fails_is_rolled_back(fast_emulator, monkeypatch):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(fast_emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(fast_emulator.home))
    config = {
        "ops": {"deploy_version": {"config": {"endpoint_name": "half-way", "model_version": "missing"}}}
    }
    with dg.instance_for_test() as instance:
        result = deploy_model.execute_in_process(
            run_config=config, instance=instance, resources={"aws": AwsClients()}, raise_on_error=False
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="failed_deployment_rollback",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
        ).for_run_failure()
        request = failed_deployment_rollback(context)
    assert request.job_name == "rollback"
    assert request.run_key == f"failed-run:{result.run_id}"
    assert request.run_config["ops"]["roll_back"]["config"]["endpoint_name"] == "half-way"
