"""Probing a live endpoint (the emulator's) and scoring the packaged model in process: the two agree."""

import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.endpoint.actions import deploy_artifact
from orchestration.endpoint.probe import local_scores, probe_endpoint
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from serving.artifact import MODEL_FILE, ArtifactIntegrityError

FEATURES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def deployed(emulator, tmp_path_factory):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, len(FEATURES)))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 1] > 0.3), 8)
    path = tmp_path_factory.mktemp("probe") / "p-v1" / "model.tar.gz"
    packed = pack_model_artifact(booster, FEATURES, 0.5, "p-v1", {}, path)
    clients = Clients(emulator.client("sagemaker"), emulator.client("cloudwatch"), emulator.client("s3"))
    deploy_artifact(clients, emulator.settings, packed, "probe-ep", "probe-tests")
    return emulator, packed


def test_probe_scores_each_row_like_the_packaged_model(deployed):
    emulator, packed = deployed
    rows = np.random.default_rng(5).normal(size=(25, len(FEATURES)))
    result = probe_endpoint(emulator.client("sagemaker-runtime"), "probe-ep", rows, batch_size=10)
    assert len(result.single_row_ms) == 25 and len(result.batch_ms) == 2  # two full batches of 10
    assert result.batch_size == 10
    assert result.variants == {"production": 25 + 20}
    np.testing.assert_allclose(result.endpoint_scores, local_scores(packed.path, rows), atol=1e-6)
    assert 0 < result.percentile("single_row_ms", 50) <= result.percentile("single_row_ms", 100)


def test_local_scores_refuse_a_tampered_artifact(deployed, tmp_path):
    _, packed = deployed
    unpacked = tmp_path / "unpacked"
    with tarfile.open(packed.path) as tar:
        tar.extractall(unpacked, filter="data")
    model = unpacked / MODEL_FILE
    model.write_text(model.read_text().replace('"base_score"', '"base_score" ', 1))
    tampered = tmp_path / "model.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for entry in sorted(unpacked.iterdir()):
            tar.add(entry, arcname=entry.name)
    with pytest.raises(ArtifactIntegrityError, match=MODEL_FILE):
        local_scores(tampered, np.zeros((1, len(FEATURES))))
