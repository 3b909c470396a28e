"""What `rtinfer demo` does: run the main job with progress, then summarise what it produced."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
from rich.console import Console
from rich.table import Table

from orchestration.app.runs import run_job
from orchestration.aws import aws_client
from orchestration.endpoint.probe import local_scores, probe_endpoint
from serving.features import FEATURE_NAMES

PROBE_ROWS = 300
EXPECTED_STEPS = 5  # train candidate, shadow, canary deploy, A/B game day, drift check (+ approve if needed)


def _metrics_table(record: dict) -> Table:
    table = Table(title=f"Model {record['model_version']} on the held-out week", min_width=64)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in record["metrics"].items():
        table.add_row(name, f"{value:,.0f}" if name.startswith("n_") else f"{value:.4f}")
    return table


def _endpoint_table(deployment: dict, record: dict, rows: np.ndarray) -> Table:
    probe = probe_endpoint(aws_client("sagemaker-runtime"), deployment["endpoint_name"], rows)
    offline = local_scores(Path(record["artifact_path"]), rows)
    threshold = record["threshold"]
    agree = np.mean((probe.endpoint_scores >= threshold) == (offline >= threshold))
    table = Table(title=f"Endpoint {deployment['endpoint_name']} ({deployment['outcome']})", min_width=64)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("model version served", deployment["production_version"])
    table.add_row("variants that answered", ", ".join(f"{k}: {v}" for k, v in probe.variants.items()))
    table.add_row(
        f"1-row latency p50 / p99 ({len(rows)} calls)",
        f"{probe.percentile('single_row_ms', 50):.2f} / {probe.percentile('single_row_ms', 99):.2f} ms",
    )
    table.add_row(
        f"{probe.batch_size}-row latency p50 / p99 ({len(probe.batch_ms)} calls)",
        f"{probe.percentile('batch_ms', 50):.2f} / {probe.percentile('batch_ms', 99):.2f} ms",
    )
    table.add_row("max |endpoint − offline score|", f"{np.max(np.abs(probe.endpoint_scores - offline)):.2e}")
    table.add_row("decision agreement at threshold", f"{agree:.2%}")
    return table


def stream_table(summary: dict) -> Table:
    table = Table(
        title="Stream path: producers → Kinesis → Lambda consumer → endpoint → DynamoDB", min_width=64
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    accounted = summary["predictions"] + summary["fallbacks"] + summary["dead_lettered"]
    table.add_row("records in (sent)", f"{summary['sent']:,} at {summary['send_rate_per_s']:,.0f}/s")
    table.add_row("  of which malformed on purpose", f"{summary['malformed_sent']:,}")
    table.add_row("model predictions", f"{summary['predictions']:,}")
    table.add_row("fallback predictions (flagged)", f"{summary['fallbacks']:,}")
    table.add_row("dead-lettered", f"{summary['dead_lettered']:,}")
    table.add_row("accounted for", f"{accounted:,} of {summary['sent']:,}")
    table.add_row(
        "put → stored latency p50 / p99",
        f"{summary['latency_p50_ms']:.0f} / {summary['latency_p99_ms']:.0f} ms",
    )
    table.add_row("variants", ", ".join(f"{k}: {v:,}" for k, v in summary["variants"].items()) or "-")
    return table


def run_demo(instance: dg.DagsterInstance, console: Console, simulation: dict, traffic: dict) -> bool:
    result = run_job(
        "fraud_lifecycle", instance, console, {"ops": {"simulated_transactions": {"config": simulation}}}
    )
    if result is None:
        return False
    record = result.output_for_node("fraud_model")
    console.print(_metrics_table(record))
    checks = result.get_asset_check_evaluations()
    for evaluation in checks:
        verdict = "[green]passed" if evaluation.passed else "[red]FAILED"
        console.print(f"check {evaluation.check_name}: {verdict} — {evaluation.description}")
    console.print(f"artifact: {record['artifact_path']} (sha256 {record['artifact_sha256'][:16]}…)")

    held_out = result.output_for_node("transaction_features").tail(PROBE_ROWS)
    rows = held_out[list(FEATURE_NAMES)].to_numpy(np.float64)
    console.print(_endpoint_table(result.output_for_node("fraud_endpoint"), record, rows))

    replay = run_job("replay_traffic", instance, console, {"ops": {"traffic_replay": {"config": traffic}}})
    if replay is None:
        return False
    console.print(stream_table(replay.output_for_node("traffic_replay")))

    from orchestration.app.demo_loop import run_lifecycle_loop, story_table

    story = run_lifecycle_loop(instance, console, simulation, traffic, run_job)
    console.print(story_table(story))
    return all(evaluation.passed for evaluation in checks) and len(story) >= EXPECTED_STEPS
