"""serving.model_server in process: the container contract and 4xx (never a crash) for bad input."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
import xgboost as xgb
from starlette.testclient import TestClient

from orchestration.model.artifact import pack_model_artifact
from serving.inference import model_fn
from serving.model_server import build_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 2))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=(x[:, 1] > 0).astype(int)), 3)
    root = tmp_path_factory.mktemp("server")
    packed = pack_model_artifact(booster, ["a", "b"], 0.5, "s1", {}, root / "model.tar.gz")
    with tarfile.open(packed.path) as tar:
        tar.extractall(root / "model", filter="data")
    return TestClient(build_app(model_fn(root / "model")))


def test_ping_and_invocations(client):
    assert client.get("/ping").status_code == 200
    answer = client.post("/invocations", content=b"0.1,0.2", headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["model_version"] == "s1"
    csv = client.post(
        "/invocations", content=b"0.1,0.2\n1,2", headers={"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert csv.headers["content-type"] == "text/csv"
    assert len(csv.text.splitlines()) == 2


def test_bad_input_is_a_400_with_the_reason(client):
    answer = client.post("/invocations", content=b"0.1,zz", headers={"Content-Type": "text/csv"})
    assert answer.status_code == 400
    assert answer.text == "CSV row 0 column 1: 'zz' is not a number"
    answer = client.post(
        "/invocations", content=b"0.1,0.2", headers={"Content-Type": "text/csv", "Accept": "image/png"}
    )
    assert answer.status_code == 400
    assert client.get("/ping").status_code == 200
