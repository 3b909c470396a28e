"""Compiled artifacts: served through TL2cgen with XGBoost's scores, covered by the manifest, fast to load;
and the RTINFER_FAULT knob of the model server (its parsing: test_faults.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from starlette.testclient import TestClient

from emulator.sagemaker.neo import compile_artifact
from orchestration.model.artifact import pack_model_artifact
from serving.artifact import COMPILED_LIB, ArtifactIntegrityError
from serving.faults import Fault
from serving.inference import input_fn, model_fn, predict_fn
from serving.model_server import build_app

FEATURES = [f"x{i}" for i in range(8)]
REPO = Path(__file__).resolve().parents[2]


def _extract(tar_path: Path, target: Path) -> Path:
    with tarfile.open(tar_path) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[xgb.Booster, np.ndarray, Path]:
    """A model with real structure (interactions, 100 trees of depth 6), packed as rtinfer packs it."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2000, len(FEATURES)))
    y = ((x[:, 0] * x[:, 1] + np.sin(x[:, 2]) - 0.5 * x[:, 3] + rng.normal(0, 0.3, 2000)) > 0).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1}, xgb.DMatrix(x, label=y), 100
    )
    root = tmp_path_factory.mktemp("compiled")
    packed = pack_model_artifact(booster, FEATURES, 0.5, "c1", {}, root / "model.tar.gz")
    return booster, x, packed.path


@pytest.fixture(scope="module")
def compiled_dir(trained, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("neo")
    compile_artifact(trained[2], root / "compiled.tar.gz")
    return _extract(root / "compiled.tar.gz", root / "model")


def test_compiled_artifact_is_served_by_tl2cgen_with_xgboosts_scores(trained, compiled_dir, tmp_path):
    booster, training_rows, packed = trained
    compiled = model_fn(compiled_dir)
    plain = model_fn(_extract(packed, tmp_path / "plain"))
    assert (compiled.predictor.kind, plain.predictor.kind) == ("tl2cgen", "xgboost")
    random_rows = np.random.default_rng(3).normal(scale=2, size=(2000, len(FEATURES)))
    for rows in (random_rows, training_rows):
        np.testing.assert_allclose(compiled.predictor.predict(rows), plain.predictor.predict(rows), atol=1e-5)
        np.testing.assert_allclose(compiled.predictor.predict(rows), booster.inplace_predict(rows), atol=1e-5)
    one = input_fn(b"0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8", "text/csv")
    assert predict_fn(one, compiled).scores == pytest.approx(predict_fn(one, plain).scores, abs=1e-5)


def test_the_manifest_covers_the_compiled_library(compiled_dir, tmp_path):
    tampered = Path(shutil.copytree(compiled_dir, tmp_path / "tampered"))
    with open(tampered / COMPILED_LIB, "ab") as library:
        library.write(b"\0")
    with pytest.raises(ArtifactIntegrityError, match="sha256 mismatch for compiled/model.so"):
        model_fn(tampered)


def test_model_server_loads_a_compiled_model_without_sklearn_or_pandas(compiled_dir):
    script = (
        "import sys\n"
        "import serving.model_server\n"
        "from serving.inference import model_fn\n"
        f"model = model_fn({str(compiled_dir)!r})\n"
        "print(model.predictor.kind, sys.modules.get('sklearn'), sys.modules.get('pandas'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    # What keeps a model server's start quick is what it does not import (a speed target would be a
    # bench's job, not a test's: on a loaded machine any number of seconds can pass).
    assert out == ["tl2cgen", "None", "None"]


def test_faults_make_the_server_fail_or_slow(compiled_dir):
    model = model_fn(compiled_dir)
    row = b"0,0,0,0,0,0,0,0"
    failing = TestClient(build_app(model, Fault(error_rate=1.0)))
    answer = failing.post("/invocations", content=row, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 500 and "injected fault" in answer.text
    assert failing.get("/ping").status_code == 200  # still healthy: only invocations misbehave
    slow = TestClient(build_app(model, Fault(latency_s=0.2)))
    started = time.perf_counter()
    assert slow.post("/invocations", content=row, headers={"Content-Type": "text/csv"}).status_code == 200
    assert time.perf_counter() - started >= 0.2
