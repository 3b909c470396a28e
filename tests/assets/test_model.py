"""The fraud model's blocking quality check (assets/model.py): a model below the floors is materialized
for inspection but goes no further, through the lifecycle job as Dagster runs it."""

import dagster as dg

from orchestration.definitions import defs
from orchestration.wiring.resources import ModelQualityFloors, default_resources

SMALL_RUN = {
    "ops": {
        "simulated_transactions": {"config": {"n_customers": 1200, "n_terminals": 300, "seed": 2}},
    }
}


def _run(emulator, tmp_path, monkeypatch, floors: ModelQualityFloors, endpoint_name: str):
    monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    run_config = {
        "ops": {
            **SMALL_RUN["ops"],
            "fraud_endpoint": {"config": {"endpoint_name": endpoint_name, "instance_count": 1}},
            "stream_stack": {
                "config": {"input_stream": f"{endpoint_name}-in", "function_name": f"{endpoint_name}-fn"}
            },
        }
    }
    resources = {**default_resources(), "quality_floors": floors}
    job = dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources
    ).resolve_job_def("fraud_lifecycle")
    with dg.instance_for_test() as instance:
        return job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)


def test_model_below_floors_is_not_deployed(emulator, tmp_path, monkeypatch):
    result = _run(
        emulator, tmp_path, monkeypatch, ModelQualityFloors(min_roc_auc=0.9999), "lifecycle-blocked"
    )
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "fraud_model_meets_floors"
    ]
    assert not evaluation.passed
    assert "roc_auc" in evaluation.description and "below the floor 0.9999" in evaluation.description
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert "fraud_model" in materialized
    assert not {"compiled_model", "registered_model", "fraud_endpoint"} & materialized
    names = [e["EndpointName"] for e in emulator.client("sagemaker").list_endpoints()["Endpoints"]]
    assert "lifecycle-blocked" not in names
