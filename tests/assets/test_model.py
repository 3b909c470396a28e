"""The fraud model's blocking quality check (assets/model.py): a model below the floors is materialized
for inspection but goes no further, through the lifecycle job as Dagster runs it."""

from orchestration.wiring.resources import ModelQualityFloors


def test_model_below_floors_is_not_deployed(run_lifecycle, emulator, tmp_path):
    result = run_lifecycle(ModelQualityFloors(min_roc_auc=0.9999), "lifecycle-blocked")
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
