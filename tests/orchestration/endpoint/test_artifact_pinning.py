"""The registry's recorded digest reaches the model server through the Model's container environment:
an artifact swapped in S3 after registration (model replaced, manifest recomputed) never serves; the
endpoint fails with a reason naming the expected and the actual digest."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.actions import DeployConfig, run_deploy
from orchestration.endpoint.rollout import EndpointFailed, UnpinnedArtifact, ensure_model_from_package
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from orchestration.model.images import model_image_uri
from orchestration.model.registry import (
    describe_version,
    ensure_group,
    publish_artifact,
    register_version,
)
from serving.artifact import ARTIFACT_SHA256_ENV, MODEL_FILE, artifact_digest, write_manifest

FEATURES = ["a", "b", "c"]
GROUP = "pinning-tests"


def _booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, len(FEATURES)))
    return xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), 3)


def _deploy(emulator, version: str, endpoint: str):
    clients = Clients(emulator.client("sagemaker"), emulator.client("cloudwatch"), emulator.client("s3"))
    config = DeployConfig(
        endpoint_name=endpoint,
        package_group=GROUP,
        model_version=version,
        strategy="ALL_AT_ONCE",
        alarms=False,
        wait_interval_s=0,
        termination_wait_s=0,
        instance_count=1,
        wait_seconds=300,
    )
    return run_deploy(clients, emulator.settings, config)


def test_the_model_carries_the_recorded_digest_and_serves(emulator, tmp_path):
    packed = pack_model_artifact(_booster(1), FEATURES, 0.5, "pin-good", {}, tmp_path / "model.tar.gz")
    sm = emulator.client("sagemaker")
    version = publish_artifact(emulator.client("s3"), sm, emulator.settings, GROUP, packed)
    assert version.content_sha256 == packed.content_sha256
    model = sm.describe_model(ModelName=ensure_model_from_package(sm, emulator.settings, version))
    assert model["PrimaryContainer"]["Environment"][ARTIFACT_SHA256_ENV] == packed.content_sha256
    assert _deploy(emulator, "pin-good", "pin-good-ep").outcome == "deployed"


def test_an_artifact_swapped_after_registration_never_serves(emulator, tmp_path):
    packed = pack_model_artifact(_booster(2), FEATURES, 0.5, "pin-swapped", {}, tmp_path / "model.tar.gz")
    s3, sm = emulator.client("s3"), emulator.client("sagemaker")
    version = publish_artifact(s3, sm, emulator.settings, GROUP, packed)
    # replace the model, recompute the manifest, upload over the registered object
    unpacked = tmp_path / "unpacked"
    with tarfile.open(packed.path) as tar:
        tar.extractall(unpacked, filter="data")
    _booster(3).save_model(str(unpacked / MODEL_FILE))
    write_manifest(unpacked)
    swapped = tmp_path / "swapped.tar.gz"
    with tarfile.open(swapped, "w:gz") as tar:
        for entry in sorted(unpacked.iterdir()):
            tar.add(entry, arcname=entry.name)
    bucket, key = version.model_data_url.removeprefix("s3://").split("/", 1)
    s3.upload_file(str(swapped), bucket, key)

    with pytest.raises(EndpointFailed) as failed:
        _deploy(emulator, "pin-swapped", "pin-swapped-ep")
    reason = sm.describe_endpoint(EndpointName="pin-swapped-ep")["FailureReason"]
    assert f"expected {packed.content_sha256}" in reason
    assert f"actual {artifact_digest(unpacked)}" in reason
    assert packed.content_sha256 in str(failed.value)


def test_a_version_without_a_recorded_digest_is_neither_registered_nor_deployed(emulator):
    sm = emulator.client("sagemaker")
    url = f"s3://{emulator.settings.bucket}/models/none/model.tar.gz"
    with pytest.raises(ValueError, match="content_sha256"):
        register_version(sm, emulator.settings, GROUP, "pin-none", url, {}, True, content_sha256="")
    # a version registered without one (as before digests were recorded) is refused at deploy time
    ensure_group(sm, GROUP)
    created = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": model_image_uri(emulator.settings), "ModelDataUrl": url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"model_version": "pin-none"},
    )
    with pytest.raises(UnpinnedArtifact, match="records no content_sha256"):
        ensure_model_from_package(sm, emulator.settings, describe_version(sm, created["ModelPackageArn"]))
