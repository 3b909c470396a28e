"""The model server checks the artifact against the digest the registry recorded, and the manifest in
full: a swapped model with a recomputed manifest, an empty manifest or an unlisted native library is
refused before anything is loaded. Run as the container runs it: `python -m serving.model_server`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from tl2cgen.exception import TL2cgenError

from orchestration.model.artifact import pack_model_artifact
from serving.artifact import (
    ARTIFACT_SHA256_ENV,
    COMPILED_LIB,
    MANIFEST_FILE,
    MODEL_FILE,
    ArtifactIntegrityError,
    artifact_digest,
    write_manifest,
)
from serving.inference import model_fn
from serving.model_server import LOAD_FAILED_PREFIX

ROOT = Path(__file__).resolve().parents[2]
# A shared library whose constructor runs on dlopen and leaves a marker: proof that it was loaded.
CONSTRUCTOR_C = """
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void ran(void) {
    const char *path = getenv("RTINFER_TEST_MARKER");
    FILE *marker = path ? fopen(path, "w") : NULL;
    if (marker) { fputs("constructor ran", marker); fclose(marker); }
}
"""


def _booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 2))
    return xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), 3)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinning")
    artifact = pack_model_artifact(_booster(1), ["a", "b"], 0.5, "pin-v1", {}, root / "model.tar.gz")
    with tarfile.open(artifact.path) as tar:
        tar.extractall(root / "model", filter="data")
    return artifact, root / "model"


@pytest.fixture
def copy(packed, tmp_path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(packed[1], target)
    return target


def _serve(model_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Start the model server on `model_dir` as the container would; it must fail to load (exit 2)."""
    clean = {k: v for k, v in os.environ.items() if k != ARTIFACT_SHA256_ENV}
    return subprocess.run(
        [sys.executable, "-m", "serving.model_server", "--model-dir", str(model_dir), "--port", "9"],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load_failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(LOAD_FAILED_PREFIX)
    return last


def test_the_registered_artifact_loads_with_its_recorded_digest(packed, monkeypatch):
    artifact, model_dir = packed
    assert artifact.content_sha256 == artifact_digest(model_dir)
    monkeypatch.setenv(ARTIFACT_SHA256_ENV, artifact.content_sha256)
    assert model_fn(model_dir).model_version == "pin-v1"


def test_a_swapped_model_with_a_recomputed_manifest_is_refused_naming_both_digests(packed, copy):
    artifact, _ = packed
    _booster(2).save_model(str(copy / MODEL_FILE))
    write_manifest(copy)  # the manifest agrees with the swapped file: only the recorded digest can tell
    swapped = artifact_digest(copy)
    reason = _load_failure(_serve(copy, {ARTIFACT_SHA256_ENV: artifact.content_sha256}))
    assert "ArtifactIntegrityError: artifact digest mismatch" in reason
    assert f"expected {artifact.content_sha256}" in reason and f"actual {swapped}" in reason


def test_an_empty_manifest_is_refused_even_without_a_recorded_digest(copy, monkeypatch):
    monkeypatch.delenv(ARTIFACT_SHA256_ENV, raising=False)
    (copy / MANIFEST_FILE).write_text('{"sha256": {}}')
    with pytest.raises(ArtifactIntegrityError, match="lists no files"):
        model_fn(copy)


def _library(directory: Path) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler to build a library with a constructor")
    source = directory / "marker.c"
    source.write_text(CONSTRUCTOR_C)
    library = directory / "marker.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_an_unlisted_native_library_is_never_loaded(copy, tmp_path):
    (copy / COMPILED_LIB).parent.mkdir()
    shutil.copy(_library(tmp_path), copy / COMPILED_LIB)
    marker = tmp_path / "constructor-ran"
    reason = _load_failure(_serve(copy, {"RTINFER_TEST_MARKER": str(marker)}))
    assert f"not listed in {MANIFEST_FILE}: {COMPILED_LIB}" in reason
    assert not marker.exists(), "the unlisted library was opened: its constructor ran"


def test_a_listed_library_is_what_gets_loaded(copy, tmp_path, monkeypatch):
    # the control for the test above: the same library, listed and pinned, is opened (then refused by
    # the tree runtime, since it is no compiled model), so the marker does prove a load
    (copy / COMPILED_LIB).parent.mkdir()
    shutil.copy(_library(tmp_path), copy / COMPILED_LIB)
    write_manifest(copy)
    marker = tmp_path / "constructor-ran"
    monkeypatch.setenv("RTINFER_TEST_MARKER", str(marker))
    with pytest.raises(TL2cgenError):
        model_fn(copy, artifact_digest(copy))
    assert marker.read_text() == "constructor ran"
