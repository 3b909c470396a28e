"""`rtinfer status`: the figures people look at, read live through boto3 (the same calls on AWS)."""

from __future__ import annotations

import dagster as dg
from rich.console import Console
from rich.table import Table

from orchestration.app.status_cost import print_cost
from orchestration.aws import aws_client
from orchestration.endpoint.history import DeploymentHistory
from orchestration.endpoint.names import CANDIDATE, ENDPOINT_NAME, PACKAGE_GROUP, PRODUCTION
from orchestration.model.registry import versions
from orchestration.monitoring.health import read_health
from orchestration.monitoring.reads import deployment_started_ms
from orchestration.settings import load_settings
from orchestration.stream.accounting import read_account
from orchestration.stream.stack import StreamStackSpec


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, min_width=64)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def latest_drift(instance: dg.DagsterInstance) -> tuple[str, dict] | None:
    """The newest drift_report materialization's day and figures, from the instance (wherever the
    asset values themselves are stored)."""
    records = instance.fetch_materializations(dg.AssetKey("drift_report"), limit=1).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    figures = {name: value.value for name, value in materialization.metadata.items()}
    return materialization.partition or "?", figures


def print_status(
    console: Console, endpoint: str = ENDPOINT_NAME, instance: dg.DagsterInstance | None = None
) -> None:
    settings, spec = load_settings(), StreamStackSpec()
    sm, sqs = aws_client("sagemaker"), aws_client("sqs")
    described = sm.describe_endpoint(EndpointName=endpoint)
    current = DeploymentHistory(aws_client("s3"), settings, endpoint).current()
    rows = [
        ("status", described["EndpointStatus"]),
        ("config", described["EndpointConfigName"]),
        ("mode", current.mode if current else "?"),
        ("production", current.production_version if current else "?"),
    ]
    if current and current.candidate_version:
        rows.append(("candidate", f"{current.candidate_version} (weight {current.candidate_weight})"))
    rows += [
        (f"variant {v['VariantName']}", f"weight {v.get('CurrentWeight')} × {v.get('CurrentInstanceCount')}")
        for v in described.get("ProductionVariants", [])
    ]
    console.print(_table(f"Endpoint {endpoint}", rows))

    registry = versions(sm, PACKAGE_GROUP)[:5]
    console.print(
        _table("Registry (newest first)", [(f"v{r.version} {r.model_version}", r.status) for r in registry])
    )

    dlq_url = sqs.get_queue_url(QueueName=spec.dead_letter_queue)["QueueUrl"]
    # the predictions since the current deployment: listing from then is what keeps `status` quick
    since = deployment_started_ms(current)
    account = read_account(aws_client("s3"), sqs, spec.audit_bucket, dlq_url, since_ms=since)
    console.print(
        _table(
            "Stream path (predictions since the current deployment)",
            [
                ("predictions", f"{account.predictions:,}"),
                ("fallbacks (flagged)", f"{account.fallbacks:,}"),
                ("dead-lettered", f"{account.dead_lettered:,}"),
                ("put → stored p50 / p99", f"{account.latency(50):.0f} / {account.latency(99):.0f} ms"),
                ("by variant", ", ".join(f"{k}: {v:,}" for k, v in account.variants.items()) or "-"),
            ],
        )
    )

    variants = [PRODUCTION] if current is None or current.mode == "single" else [PRODUCTION, CANDIDATE]
    health = read_health(aws_client("cloudwatch"), sqs, endpoint, variants, spec.function_name, dlq_url)
    console.print(
        _table(
            "Health, last 5 minutes (CloudWatch)", [(k, f"{v:,.3f}") for k, v in health.as_metadata().items()]
        )
    )

    print_cost(console, spec.model_copy(update={"endpoint_name": endpoint}))

    drift = latest_drift(instance) if instance is not None else None
    if drift:
        day, report = drift
        console.print(
            _table(
                f"Drift {day}",
                [
                    ("level", report.get("level", "?")),
                    ("rows", f"{int(report.get('rows', 0)):,}"),
                    ("drifted", report.get("drifted_features") or "-"),
                    ("report", report.get("report", "-")),
                ],
            )
        )
