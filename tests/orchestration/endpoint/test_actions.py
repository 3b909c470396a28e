"""Setting up an endpoint from a packaged model through the product's own path (registry, then the deploy
strategy), with the same boto3 calls the product makes on AWS, against the emulator."""

import json
import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.actions import DeployConfig, deploy_artifact, run_deploy
from orchestration.endpoint.rollout import EndpointFailed
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from serving.artifact import MODEL_FILE

FEATURES = ["a", "b", "c"]
GROUP = "actions-tests"


def _artifact(tmp_path, version: str, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(FEATURES)))
    y = (x[:, 0] + rng.normal(scale=0.5, size=300) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=y), 5)
    return pack_model_artifact(
        booster, FEATURES, 0.5, version, {"roc_auc": 0.9}, tmp_path / version / "model.tar.gz"
    )


def _clients(emulator) -> Clients:
    return Clients(emulator.client("sagemaker"), emulator.client("cloudwatch"), emulator.client("s3"))


def _served_version(emulator, endpoint_name: str) -> str:
    response = emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/csv", Body="0.1,0.2,0.3"
    )
    return json.loads(response["Body"].read())["model_version"]


def test_deploy_creates_then_keeps_then_switches(emulator, tmp_path):
    clients = _clients(emulator)
    first = deploy_artifact(clients, emulator.settings, _artifact(tmp_path, "v-one", 1), "deploy-flow", GROUP)
    assert (first.outcome, first.mode, first.production_version) == ("deployed", "single", "v-one")
    assert first.previous_config_name is None
    assert _served_version(emulator, "deploy-flow") == "v-one"

    again = DeployConfig(
        endpoint_name="deploy-flow", package_group=GROUP, model_version="v-one", instance_count=1
    )
    assert run_deploy(clients, emulator.settings, again).outcome == "unchanged"

    second = deploy_artifact(
        clients, emulator.settings, _artifact(tmp_path, "v-two", 2), "deploy-flow", GROUP
    )
    assert (second.outcome, second.previous_config_name) == ("deployed", first.endpoint_config_name)
    described = emulator.client("sagemaker").describe_endpoint(EndpointName="deploy-flow")
    assert described["EndpointConfigName"] == second.endpoint_config_name
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
    with pytest.raises(EndpointFailed, match="sha256"):
        deploy_artifact(_clients(emulator), emulator.settings, packed, "deploy-tampered", GROUP)


def test_deploy_config_rejects_bad_values():
    with pytest.raises(ValueError, match="instance_count"):
        DeployConfig(instance_count=0)
    with pytest.raises(ValueError, match="endpoint_name"):
        DeployConfig(endpoint_name="bad_name!")
