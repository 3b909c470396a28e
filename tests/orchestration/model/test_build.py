import json
import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.model.build import build_model, quality_failures
from orchestration.model.training import TrainingConfig
from serving.artifact import MANIFEST_FILE, MODEL_FILE, ArtifactIntegrityError, read_schema, verify_manifest
from serving.features import FEATURE_NAMES


@pytest.fixture(scope="module")
def record(history, tmp_path_factory):
    features, events, labels = history
    return build_model(features, events, labels, TrainingConfig(), tmp_path_factory.mktemp("artifacts"))


def test_model_reaches_published_range(record):
    metrics = record["metrics"]
    assert metrics["roc_auc"] > 0.85
    assert metrics["average_precision"] > 10 * metrics["fraud_rate"]
    assert 0 < record["threshold"] < 1
    assert {"recall_card_testing", "recall_compromised_card", "card_precision_at_100"} <= set(metrics)


def test_artifact_is_sagemaker_layout_and_verifiable(record, tmp_path):
    with tarfile.open(record["artifact_path"]) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path, filter="data")
    model_files = {"xgboost-model.json", "feature_schema.json", "metrics.json", "manifest.json"}
    assert {name for name in names if not name.startswith("code")} == model_files
    assert (
        "code/inference.py" in names
    )  # the script-mode code (tests/orchestration/model/test_script_mode.py)
    assert verify_manifest(tmp_path) == record["file_sha256"]
    schema = read_schema(tmp_path)
    assert schema["features"] == list(FEATURE_NAMES)
    assert schema["model_version"] == record["model_version"]
    booster = xgb.Booster()
    booster.load_model(str(tmp_path / MODEL_FILE))
    assert booster.num_boosted_rounds() == record["n_trees"]
    json.loads((tmp_path / MODEL_FILE).read_text())  # XGBoost's own JSON format, not pickle


def test_tampered_model_file_fails_verification(record, tmp_path):
    with tarfile.open(record["artifact_path"]) as tar:
        tar.extractall(tmp_path, filter="data")
    model = tmp_path / MODEL_FILE
    model.write_text(model.read_text().replace('"base_score"', '"base_score" ', 1))
    with pytest.raises(ArtifactIntegrityError, match=f"sha256 mismatch for {MODEL_FILE}"):
        verify_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        verify_manifest(tmp_path)


def test_same_training_gives_same_version(history, tmp_path):
    # Determinism does not depend on the model's size: two short trainings show it at a fraction of
    # the cost of repeating the full one.
    features, events, labels = history
    short = TrainingConfig(n_rounds=15, early_stopping_rounds=5)
    first = build_model(features, events, labels, short, tmp_path / "first")
    again = build_model(features, events, labels, short, tmp_path / "again")
    assert again["model_version"] == first["model_version"]
    assert again["file_sha256"] == first["file_sha256"]
    assert np.isclose(again["metrics"]["roc_auc"], first["metrics"]["roc_auc"])
    different = build_model(features, events, labels, short.model_copy(update={"seed": 1}), tmp_path / "seed")
    assert different["model_version"] != first["model_version"]


def test_quality_floors_name_what_failed():
    failures = quality_failures(
        {"roc_auc": 0.7, "average_precision": 0.5}, {"min_roc_auc": 0.8, "min_recall": 0.2}
    )
    assert failures == [
        "roc_auc = 0.7000 is below the floor 0.8000",
        "recall missing from the model's metrics",
    ]
    assert quality_failures({"roc_auc": 0.9}, {"min_roc_auc": 0.8}) == []
