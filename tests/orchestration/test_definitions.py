"""The code location: every job resolves, the assets and checks are registered, the main job runs end to
end against the emulator, and bad run config fails with the field's name."""

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.wiring.resources import ModelQualityFloors


def test_every_job_resolves():
    names = [job.name for job in defs.resolve_all_job_defs()]
    assert "fraud_lifecycle" in names
    for name in names:
        assert defs.resolve_job_def(name) is not None


def test_assets_and_check_are_registered():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "transactions",
        "transaction_labels",
        "transaction_features",
        "fraud_model",
        "fraud_model_artifact",
        "compiled_model",
        "registered_model",
        "fraud_endpoint",
        "stream_stack",
        "traffic_replay",
    } <= keys
    checks = {check.name for check in defs.resolve_asset_graph().asset_check_keys}
    assert {"fraud_model_meets_floors", "fraud_model_review"} <= checks


def test_lifecycle_job_trains_checks_and_deploys(run_lifecycle, emulator, tmp_path):
    result = run_lifecycle(ModelQualityFloors(), "lifecycle-ok")
    assert result.success
    record = result.output_for_node("fraud_model", "fraud_model")
    assert (tmp_path / "artifacts" / record["model_version"] / "model.tar.gz").exists()
    # asset values are in the bucket (dagster-aws's S3 resource on the emulator), the tarball as bytes
    s3 = emulator.client("s3")
    s3.head_object(Bucket=emulator.settings.bucket, Key="assets/transaction_features.parquet")
    stored = s3.get_object(Bucket=emulator.settings.bucket, Key="assets/fraud_model_artifact.bin")
    assert (
        stored["Body"].read()
        == (tmp_path / "artifacts" / record["model_version"] / "model.tar.gz").read_bytes()
    )
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert checks["fraud_model_meets_floors"]
    registered = result.output_for_node("registered_model")
    assert registered["model_version"] == record["model_version"]
    assert registered["approval"] == ("Approved" if checks["fraud_model_review"] else "PendingManualApproval")
    compiled = result.output_for_node("compiled_model")
    assert compiled["compiled"], compiled["not_compiled_because"]
    assert compiled["verification"]["max_abs_diff"] <= 1e-5
    deployment = result.output_for_node("fraud_endpoint")
    described = emulator.client("sagemaker").describe_endpoint(EndpointName="lifecycle-ok")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == deployment["endpoint_config_name"]
    assert deployment["production_version"] == record["model_version"]
    stack = result.output_for_node("stream_stack")
    function = emulator.client("lambda").get_function(FunctionName="lifecycle-ok-fn")["Configuration"]
    assert function["Environment"]["Variables"]["ENDPOINT_NAME"] == "lifecycle-ok"
    mapping = emulator.client("lambda").get_event_source_mapping(UUID=stack["mapping_uuid"])
    assert mapping["State"] == "Enabled" and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_bad_simulation_config_fails_with_the_field_name(tmp_path, monkeypatch):
    bad = {"ops": {"simulated_transactions": {"config": {"n_customers": 0}}}}
    with pytest.raises(Exception, match="n_customers"):
        monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
        defs.resolve_job_def("fraud_lifecycle").execute_in_process(
            run_config=bad, instance=dg.DagsterInstance.ephemeral()
        )
