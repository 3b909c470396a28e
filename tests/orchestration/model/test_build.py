import json
import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.data.offline_features import compute_offline_features
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.model.build import build_model, quality_failures
from orchestration.model.training import TrainingConfig, temporal_split, training_dataset
from serving.artifact import MANIFEST_FILE, MODEL_FILE, ArtifactIntegrityError, read_schema, verify_manifest
from serving.features import FEATURE_NAMES, MS_PER_DAY


@pytest.fixture(scope="module")
def history():
    events, labels = simulate(SimulationConfig(n_customers=1500, n_terminals=400, n_days=56, seed=5))
    return compute_offline_features(events, labels), events, labels


@pytest.fixture(scope="module")
def record(history, tmp_path_factory):
    features, events, labels = history
    return build_model(features, events, labels, TrainingConfig(), tmp_path_factory.mktemp("artifacts"))


def test_split_is_temporal_and_uses_only_known_labels(history):
    features, events, labels = history
    config = TrainingConfig()
    split = temporal_split(training_dataset(features, events, labels), config)
    assert split.train["timestamp_ms"].max() < split.validation["timestamp_ms"].min()
    gap = split.test["timestamp_ms"].min() - split.validation["timestamp_ms"].max()
    assert gap >= config.gap_days * MS_PER_DAY - MS_PER_DAY
    assert split.test["timestamp_ms"].min() >= split.label_cutoff_ms
    trained_on = split.train[split.train["is_fraud"]]
    assert (trained_on["label_available_ms"] <= split.label_cutoff_ms).all()
    # Some frauds of the training weeks are charged back only after the cut-off: they count as legit.
    late = split.validation[(split.validation["label_available_ms"] > split.label_cutoff_ms)]
    assert late.merge(labels, on="request_id")["is_fraud_y"].any()
    assert not late["is_fraud"].any()


def test_split_refuses_data_that_is_too_short(history):
    features, events, labels = history
    with pytest.raises(ValueError, match="split needs 63 days of data"):
        temporal_split(training_dataset(features, events, labels), TrainingConfig(warmup_days=28))


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
    assert names == {"xgboost-model.json", "feature_schema.json", "metrics.json", "manifest.json"}
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


def test_same_training_gives_same_version(history, record, tmp_path):
    features, events, labels = history
    again = build_model(features, events, labels, TrainingConfig(), tmp_path)
    assert again["model_version"] == record["model_version"]
    assert np.isclose(again["metrics"]["roc_auc"], record["metrics"]["roc_auc"])


def test_quality_floors_name_what_failed():
    failures = quality_failures(
        {"roc_auc": 0.7, "average_precision": 0.5}, {"min_roc_auc": 0.8, "min_recall": 0.2}
    )
    assert failures == [
        "roc_auc = 0.7000 is below the floor 0.8000",
        "recall missing from the model's metrics",
    ]
    assert quality_failures({"roc_auc": 0.9}, {"min_roc_auc": 0.8}) == []
