"""Train, evaluate and package one fraud-model version: the plain function behind the model asset."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from orchestration.model.artifact import pack_model_artifact
from orchestration.model.training import TrainingConfig, temporal_split, train_model, training_dataset
from serving.features import FEATURE_NAMES


def model_version_for(booster_json: bytes) -> str:
    """Same trees, same version: a retrain that changes nothing does not mint a new version."""
    return "fraud-xgb-" + hashlib.sha256(booster_json).hexdigest()[:12]


def build_model(
    features: pd.DataFrame,
    events: pd.DataFrame,
    labels: pd.DataFrame,
    config: TrainingConfig,
    artifacts_dir: Path,
) -> dict:
    """Train on the temporal split, evaluate on the held-out week, pack model.tar.gz; return its record."""
    split = temporal_split(training_dataset(features, events, labels), config)
    trained = train_model(split, config)
    version = model_version_for(bytes(trained.booster.save_raw("json")))
    metrics = {"test": trained.metrics, "validation": trained.validation_metrics}
    packed = pack_model_artifact(
        trained.booster,
        list(FEATURE_NAMES),
        trained.threshold,
        version,
        metrics,
        artifacts_dir / version / "model.tar.gz",
    )
    return {
        "model_version": version,
        "artifact_path": str(packed.path),
        "artifact_sha256": packed.sha256,
        "content_sha256": packed.content_sha256,
        "file_sha256": packed.file_hashes,
        "threshold": trained.threshold,
        "metrics": trained.metrics,
        "validation_metrics": trained.validation_metrics,
        "n_trees": trained.best_iteration,
        "n_train": len(split.train),
        "n_validation": len(split.validation),
        "n_test": len(split.test),
        "label_cutoff": datetime.fromtimestamp(split.label_cutoff_ms / 1000, tz=UTC).isoformat(),
        "trained_at": datetime.now(tz=UTC).isoformat(),
    }


def quality_failures(metrics: dict[str, float], floors: dict[str, float]) -> list[str]:
    """Each floor named `min_<metric>` that the metrics do not reach, as a readable sentence."""
    failures = []
    for floor_name, floor in floors.items():
        metric = floor_name.removeprefix("min_")
        value = metrics.get(metric)
        if value is None:
            failures.append(f"{metric} missing from the model's metrics")
        elif value < floor:
            failures.append(f"{metric} = {value:.4f} is below the floor {floor:.4f}")
    return failures


def review_findings(
    metrics: dict[str, float], min_scenario_recall: float, max_alerts_per_fraud: float
) -> list[str]:
    """What a reviewer should look at before this model serves: weak fraud scenarios, too many alerts.

    Unlike the quality floors these do not stop the model; they keep it from being approved
    automatically (the registry then holds it as PendingManualApproval).
    """
    findings = [
        f"{name.removeprefix('recall_')} recall = {value:.4f} is below {min_scenario_recall:.4f}"
        for name, value in metrics.items()
        if name.startswith("recall_") and name != "recall_at_threshold" and value < min_scenario_recall
    ]
    alerts_per_fraud = metrics.get("alert_rate", 0.0) / max(metrics.get("fraud_rate", 0.0), 1e-12)
    if alerts_per_fraud > max_alerts_per_fraud:
        findings.append(f"{alerts_per_fraud:.2f} alerts per fraud is above {max_alerts_per_fraud:.2f}")
    return findings


def metrics_markdown(metrics: dict[str, float]) -> str:
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in metrics.items())
    return f"| metric | value |\n|---|---|\n{rows}"
