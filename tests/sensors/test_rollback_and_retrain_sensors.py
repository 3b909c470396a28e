"""The failed-deployment and critical-drift sensors, fed the real events Dagster would give them."""

import dagster as dg

from jobs.endpoint import deploy_model
from orchestration.wiring.resources import AwsClients
from sensors.drift import retrain_on_critical_drift
from sensors.health import failed_deployment_rollback


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


def test_only_critical_drift_requests_retraining():
    from orchestration.definitions import defs

    cursor = None
    with dg.instance_for_test() as instance:
        for level, retrains in (("WARNING", False), ("CRITICAL", True)):
            instance.report_runless_asset_event(
                dg.AssetMaterialization("drift_report", partition="2026-11-25", metadata={"level": level})
            )
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
            # An asset sensor yields what it decides for each new materialization after its cursor.
            outcomes = list(retrain_on_critical_drift(context))
            cursor = context.cursor
            requests = [outcome for outcome in outcomes if isinstance(outcome, dg.RunRequest)]
            assert bool(requests) == retrains, (level, outcomes)
    assert requests[0].run_key.startswith("retrain:2026-11-25:")
