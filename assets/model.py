"""The fraud model: trained, evaluated on a later week, packaged; and the check that gates it."""

from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.model.build import build_model, metrics_markdown, quality_failures, review_findings
from orchestration.settings import load_settings
from orchestration.wiring.resources import ModelQualityFloors, ModelReview
from orchestration.wiring.run_config import TrainingRunConfig


@dg.multi_asset(
    group_name="model",
    outs={
        "fraud_model": dg.AssetOut(
            description="XGBoost fraud model packaged as a SageMaker model.tar.gz: version, metrics, hashes."
        ),
        "fraud_model_artifact": dg.AssetOut(
            description="The model.tar.gz itself, as bytes: what later runs (in other processes or "
            "containers) compile, register and score with."
        ),
    },
)
def fraud_model(
    context: dg.AssetExecutionContext,
    config: TrainingRunConfig,
    transaction_features: pd.DataFrame,
    transactions: pd.DataFrame,
    transaction_labels: pd.DataFrame,
    model_review: ModelReview,
):
    record = build_model(
        transaction_features,
        transactions,
        transaction_labels,
        config.to_library(),
        load_settings().home / "artifacts",
    )
    metrics = record["metrics"]
    # Reviewed once, here: the review check shows the findings, the registry acts on them.
    record["review_findings"] = review_findings(
        metrics, model_review.min_scenario_recall, model_review.max_alerts_per_fraud
    )
    context.log.info(f"model {record['model_version']}: ROC AUC {metrics['roc_auc']:.4f}")
    yield dg.Output(
        record,
        output_name="fraud_model",
        metadata={
            "model_version": record["model_version"],
            "artifact": dg.MetadataValue.path(record["artifact_path"]),
            "artifact_sha256": record["artifact_sha256"],
            "n_trees": record["n_trees"],
            "test_metrics": dg.MetadataValue.md(metrics_markdown(metrics)),
            **{name: dg.MetadataValue.float(value) for name, value in metrics.items()},
        },
    )
    artifact = Path(record["artifact_path"]).read_bytes()
    yield dg.Output(
        artifact,
        output_name="fraud_model_artifact",
        metadata={"model_version": record["model_version"], "bytes": len(artifact)},
    )


@dg.asset_check(
    asset="fraud_model", blocking=True, description="The model reaches the configured quality floors."
)
def fraud_model_meets_floors(fraud_model: dict, quality_floors: ModelQualityFloors) -> dg.AssetCheckResult:
    floors = quality_floors.model_dump()
    failures = quality_failures(fraud_model["metrics"], floors)
    return dg.AssetCheckResult(
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(failures) or "all floors met",
        metadata={
            "model_version": fraud_model["model_version"],
            **{name: dg.MetadataValue.float(value) for name, value in floors.items()},
        },
    )


@dg.asset_check(
    asset="fraud_model", description="Per-scenario recall and alert rate a reviewer should see first."
)
def fraud_model_review(fraud_model: dict) -> dg.AssetCheckResult:
    findings = fraud_model["review_findings"]
    return dg.AssetCheckResult(
        passed=not findings,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(findings) or "nothing to review",
        metadata={"model_version": fraud_model["model_version"], "findings": len(findings)},
    )
