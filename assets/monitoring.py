"""What the live system is doing: per-variant outcomes, shadow vs production, daily input drift."""

import dagster as dg
import pandas as pd

from orchestration.endpoint.names import CANDIDATE, PRODUCTION
from orchestration.model.artifact import artifact_file
from orchestration.monitoring.charts import as_markdown_image, drift_chart, latency_chart, outcomes_chart
from orchestration.monitoring.drift import DriftConfig, evaluate_drift
from orchestration.monitoring.drift_window import captured_inputs, scored_reference
from orchestration.monitoring.health import mean_model_latency_ms
from orchestration.monitoring.outcomes import join_outcomes
from orchestration.monitoring.reads import (
    capture_keys,
    read_capture,
    read_current_predictions,
    read_labels_of,
)
from orchestration.monitoring.report_links import publish_report
from orchestration.monitoring.shadow import compare_shadow, match_shadow_captures
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, MonitoringTargets

DRIFT_PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_offset=1)
REFERENCE_ROWS = 3000


@dg.asset(
    group_name="monitoring", description="Matured outcomes per variant: confusion at the threshold, cost."
)
def variant_outcomes(
    context: dg.AssetExecutionContext, aws: AwsClients, targets: MonitoringTargets
) -> dg.Output[dict]:
    settings, s3 = load_settings(), aws.client("s3")
    predictions = read_current_predictions(s3, settings, targets.endpoint_name, targets.audit_bucket)
    if predictions.empty:
        return dg.Output({"matured": 0}, metadata={"matured": 0, "note": "no predictions yet"})
    as_of = int(predictions["event_ms"].max())
    labels = read_labels_of(aws.client("dynamodb"), targets.labels_table, predictions["request_id"])
    outcomes = join_outcomes(predictions, labels, as_of)
    table = outcomes.per_variant
    record = {
        "as_of_ms": as_of,
        "matured": int(table["n"].sum()),
        "pending": outcomes.pending,
        "per_variant": table.reset_index().to_dict("records"),
    }
    context.log.info(f"{record['matured']} matured outcomes, {outcomes.pending} pending")
    charts = (
        {"mean_cost_by_variant": dg.MetadataValue.md(as_markdown_image(outcomes_chart(table), "mean cost"))}
        if len(table)
        else {}
    )
    return dg.Output(
        record,
        metadata={
            "matured": record["matured"],
            "pending": outcomes.pending,
            "per_variant": dg.MetadataValue.md(table.to_markdown(floatfmt=".4f")),
            **charts,
            "latency_percentiles": dg.MetadataValue.md(
                as_markdown_image(latency_chart(predictions), "latency")
            ),
        },
    )


@dg.asset(group_name="monitoring", description="Shadow vs production on the same requests, paired.")
def shadow_comparison(
    context: dg.AssetExecutionContext, aws: AwsClients, targets: MonitoringTargets
) -> dg.Output[dict]:
    settings = load_settings()
    s3, dynamodb, cw = aws.client("s3"), aws.client("dynamodb"), aws.client("cloudwatch")
    shadow = read_capture(
        s3, settings.bucket, capture_keys(s3, settings.bucket, targets.endpoint_name, CANDIDATE)
    )
    predictions = read_current_predictions(s3, settings, targets.endpoint_name, targets.audit_bucket)
    paired = match_shadow_captures(shadow, predictions)
    if paired.empty:
        note = "no shadow capture matches a prediction yet"
        return dg.Output({"paired": 0}, metadata={"paired": 0, "note": note})
    # Capture records no latency: both sides get their variant's mean ModelLatency from CloudWatch.
    paired["latency_ms"] = mean_model_latency_ms(cw, targets.endpoint_name, CANDIDATE)
    served = predictions[predictions["request_id"].isin(paired["request_id"])].copy()
    served["latency_ms"] = mean_model_latency_ms(cw, targets.endpoint_name, PRODUCTION)
    labels = read_labels_of(dynamodb, targets.labels_table, served["request_id"])
    comparison = compare_shadow(
        served,
        paired[["request_id", "score", "latency_ms"]],
        float(paired["threshold"].iloc[0]),
        labels,
        int(predictions["event_ms"].max()),
    )
    metadata = comparison.to_metadata()
    context.log.info(f"shadow vs production: {metadata}")
    return dg.Output({"paired": len(paired), **metadata}, metadata={"paired": len(paired), **metadata})


@dg.asset(group_name="monitoring", description="Versioned reference sample of training inputs (with scores).")
def drift_reference(
    transaction_features: pd.DataFrame, fraud_model: dict, fraud_model_artifact: bytes
) -> dg.Output[pd.DataFrame]:
    with artifact_file(fraud_model_artifact) as path:
        sample = scored_reference(transaction_features, path, REFERENCE_ROWS, seed=0)
    return dg.Output(
        sample.frame, metadata={**sample.to_metadata(), "model_version": fraud_model["model_version"]}
    )


@dg.asset(
    group_name="monitoring",
    partitions_def=DRIFT_PARTITIONS,
    description="Evidently drift of one day's captured inputs against the reference; HTML report kept.",
)
def drift_report(
    context: dg.AssetExecutionContext,
    aws: AwsClients,
    targets: MonitoringTargets,
    drift_reference: pd.DataFrame,
) -> dg.Output[dict]:
    settings = load_settings()
    day = context.partition_key
    current = captured_inputs(aws.client("s3"), settings.bucket, targets.endpoint_name, PRODUCTION, day)
    if current.empty:
        return dg.Output({"level": "NO_DATA", "rows": 0}, metadata={"level": "NO_DATA", "rows": 0})
    html = settings.home / "reports" / f"drift-{day}.html"
    html.parent.mkdir(parents=True, exist_ok=True)
    result = evaluate_drift(drift_reference, current, DriftConfig(), html)
    context.log.info(
        f"drift {day}: {result.level} ({', '.join(result.drifted_features) or 'no feature drifted'})"
    )
    link = publish_report(aws.client("s3"), settings.bucket, f"reports/drift/{day}.html", html)
    record = {
        "level": str(result.level),
        "rows": len(current),
        "drifted_features": result.drifted_features,
        "drifted_share": result.drifted_share,
        "report": link.s3_uri,
        "report_url": link.url,
    }
    return dg.Output(
        record,
        metadata={
            **result.to_metadata(),
            "rows": len(current),
            "report": dg.MetadataValue.text(link.s3_uri),
            "report_url": dg.MetadataValue.url(link.url),  # opens in the browser for a week
            "drift_by_feature": dg.MetadataValue.md(
                as_markdown_image(drift_chart(result.per_feature), "drift")
            ),
            "features": dg.MetadataValue.md(result.per_feature.to_markdown(floatfmt=".4f")),
        },
    )
