"""Deploying a packaged model with the same boto3 calls the product makes on AWS, against the emulator."""

import json
import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.fleet import EndpointFailed, EndpointSpec, deploy_single_variant, upload_artifact
from orchestration.model.artifact import pack_model_artifact
from serving.artifact import MODEL_FILE

FEATURES = ["a", "b", "c"]


def _artifact(tmp_path, version: str, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(FEATURES)))
    y = (x[:, 0] + rng.normal(scale=0.5, size=300) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=y), 5)
    return pack_model_artifact(
        booster, FEATURES, 0.5, version, {"roc_auc": 0.9}, tmp_path / version / "model.tar.gz"
    )


def _deploy(emulator, tmp_path, version, seed, spec):
    packed = _artifact(tmp_path, version, seed)
    url = upload_artifact(emulator.client("s3"), emulator.settings, packed.path, version, packed.sha256)
    return deploy_single_variant(emulator.client("sagemaker"), emulator.settings, spec, version, url)


def _served_version(emulator, endpoint_name: str) -> str:
    response = emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/csv", Body="0.1,0.2,0.3"
    )
    return json.loads(response["Body"].read())["model_version"]


def test_deploy_creates_then_keeps_then_switches(emulator, tmp_path):
    spec = EndpointSpec(endpoint_name="deploy-flow", wait_seconds=60)
    first = _deploy(emulator, tmp_path, "v-one", 1, spec)
    assert (first.action, first.status) == ("created", "InService")
    assert _served_version(emulator, "deploy-flow") == "v-one"

    assert _deploy(emulator, tmp_path, "v-one", 1, spec).action == "unchanged"

    second = _deploy(emulator, tmp_path, "v-two", 2, spec)
    assert second.action == "updated"
    described = emulator.client("sagemaker").describe_endpoint(EndpointName="deploy-flow")
    assert described["EndpointConfigName"] == "deploy-flow-v-two"
    assert _served_version(emulator, "deploy-flow") == "v-two"


def test_tampered_artifact_fails_the_deployment_with_the_reason(emulator, tmp_path):
    packed = _artifact(tmp_path, "v-bad", 3)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(packed.path) as tar:
        tar.extractall(unpacked, filter="data")
    model = unpacked / MODEL_FILE
    model.write_text(model.read_text().replace('"base_score"', '"base_score" ', 1))
    with tarfile.open(packed.path, "w:gz") as tar:
        for entry in sorted(unpacked.iterdir()):
            tar.add(entry, arcname=entry.name)
    url = upload_artifact(emulator.client("s3"), emulator.settings, packed.path, "v-bad", packed.sha256)
    spec = EndpointSpec(endpoint_name="deploy-tampered", wait_seconds=60)
    with pytest.raises(EndpointFailed, match="sha256"):
        deploy_single_variant(emulator.client("sagemaker"), emulator.settings, spec, "v-bad", url)


def test_endpoint_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="instance_count"):
        EndpointSpec(instance_count=0)
    with pytest.raises(ValueError, match="endpoint_name"):
        EndpointSpec(endpoint_name="bad_name!")
