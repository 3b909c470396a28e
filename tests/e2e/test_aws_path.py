"""The RTINFER_ENV=aws code path, end to end: the jobs a real account runs (train, compile, register,
deploy, stream, train a candidate, deploy it, roll back), with the clients pointed at the emulator only
through the standard AWS_ENDPOINT_URL and ordinary credentials, in a region other than us-east-1.

Nothing in the product is told it is local: asset values go to the bucket through dagster-aws's S3
resource, compute logs through its S3 compute log manager, the serving image is the SDK's for the region.
"""

import dagster as dg
import pytest

from jobs.ops import APPROVE_OP, DEPLOY_OP, REPLAY_OP, ROLLBACK_OP, TRAIN_OP, op_config
from orchestration.model.images import framework_image_uri, script_mode_environment
from orchestration.settings import load_settings
from orchestration.wiring.instance_config import COMPUTE_LOG_PREFIX, compute_logs_config, ensure_log_bucket
from orchestration.wiring.resources import ModelReview, default_resources

REGION = "eu-west-1"
BUCKET = "rtinfer-aws-path"
ENDPOINT = "aws-path"
GROUP = "aws-path-models"
SIMULATION = {"n_customers": 1200, "n_terminals": 300, "seed": 2}
FAST_DEPLOY = {"endpoint_name": ENDPOINT, "package_group": GROUP, "instance_count": 1, "wait_interval_s": 30}


@pytest.fixture
def aws_env(fast_emulator, tmp_path, monkeypatch):
    """An account as boto3 sees one: region, credentials and the standard endpoint override."""
    for name in ("RTINFER_EMULATOR_PORT", "RTINFER_ASSET_STORAGE", "RTINFER_MODEL_IMAGE_URI", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "RTINFER_ENV": "aws",
        "RTINFER_HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": fast_emulator.settings.emulator_url,
        "AWS_ACCESS_KEY_ID": "local",  # the emulator checks presigned links against this key's secret
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "RTINFER_BUCKET": BUCKET,
        "RTINFER_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/rtinfer-sagemaker",
        "RTINFER_LAMBDA_ROLE_ARN": "arn:aws:iam::123456789012:role/rtinfer-consumer",
    }.items():
        monkeypatch.setenv(name, value)
    return fast_emulator


def _definitions() -> dg.Definitions:
    from orchestration.definitions import defs

    resources = {**default_resources(), "model_review": ModelReview(model_package_group=GROUP)}
    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources
    )


def _run(defs: dg.Definitions, job: str, instance, run_config: dict) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False
    )
    failures = [e.message for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert result.success, f"{job} failed: {failures}"
    return result


def test_the_aws_branch_trains_deploys_streams_and_rolls_back(aws_env):
    settings = load_settings()
    assert not settings.is_local and settings.region == REGION and settings.bucket == BUCKET
    defs = _definitions()
    io_manager = defs.resources["io_manager"]
    assert type(io_manager).__name__ == "S3OpenFormatIOManager"
    assert io_manager.s3.endpoint_url is None  # boto3 resolves AWS_ENDPOINT_URL itself
    ensure_log_bucket()
    sm, s3 = aws_env.client("sagemaker"), aws_env.client("s3")
    logs_config = compute_logs_config(settings, settings.home / "compute_logs")
    with dg.instance_for_test(overrides={"compute_logs": logs_config}) as instance:
        lifecycle = _run(
            defs,
            "fraud_lifecycle",
            instance,
            {
                "ops": {
                    "simulated_transactions": {"config": SIMULATION},
                    "fraud_endpoint": {"config": FAST_DEPLOY},
                    "stream_stack": {
                        "config": {"input_stream": f"{ENDPOINT}-in", "function_name": f"{ENDPOINT}-fn"}
                    },
                }
            },
        )
        first = lifecycle.output_for_node("registered_model")
        assert first["approval"] == "Approved", first
        # the registered container: SageMaker's XGBoost image of this region, in script mode
        package = sm.describe_model_package(ModelPackageName=first["package_arn"])
        [container] = package["InferenceSpecification"]["Containers"]
        assert container["Image"] == framework_image_uri(REGION) and ".eu-west-1." in container["Image"]
        assert container["Environment"] == script_mode_environment(settings)
        assert container["ModelDataUrl"].startswith(f"s3://{BUCKET}/")

        replay = _run(
            defs,
            "replay_traffic",
            instance,
            op_config(REPLAY_OP, {"rate": 200.0, "duration_s": 3.0, "malformed_share": 0.02}),
        )
        streamed = replay.output_for_node(REPLAY_OP)
        assert streamed["sent"] > 0
        assert streamed["predictions"] + streamed["fallbacks"] + streamed["dead_lettered"] == streamed["sent"]
        assert streamed["predictions"] > 0 and streamed["dead_lettered"] >= 1

        # a later run of another job reads the stored features and the model tarball from the bucket
        retrain = {"ops": {TRAIN_OP: {"config": {"max_depth": 4, "seed": 1}}}}
        candidate = _run(defs, "train_candidate", instance, retrain).output_for_node("registered_model")
        assert candidate["model_version"] != first["model_version"]
        approval = {"package_group": GROUP, "model_version": candidate["model_version"], "note": "e2e"}
        _run(defs, "approve_model_version", instance, op_config(APPROVE_OP, approval))
        deployed = _run(
            defs,
            "deploy_model",
            instance,
            op_config(DEPLOY_OP, {**FAST_DEPLOY, "model_version": candidate["model_version"]}),
        ).output_for_node(DEPLOY_OP)
        assert deployed["production_version"] == candidate["model_version"]
        rolled = _run(
            defs,
            "rollback",
            instance,
            op_config(ROLLBACK_OP, {"endpoint_name": ENDPOINT, "package_group": GROUP}),
        ).output_for_node(ROLLBACK_OP)
        assert rolled["production_version"] == first["model_version"]
        runs = [lifecycle.run_id]
    rejected = sm.describe_model_package(ModelPackageName=candidate["package_arn"])
    assert rejected["ModelApprovalStatus"] == "Rejected"
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    # asset values and compute logs are in the bucket, not on this machine
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="assets/")["Contents"]}
    assert {"assets/transaction_features.parquet", "assets/fraud_model_artifact.bin"} <= keys
    logs = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{COMPUTE_LOG_PREFIX}/storage/{runs[0]}/")
    assert logs.get("KeyCount", 0) >= 1
    assert not (settings.home / "assets").exists()
