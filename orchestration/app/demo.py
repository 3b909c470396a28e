"""What `rtinfer demo` does: run the main job with progress, then summarise what it produced.

Besides the tables it prints, the demo writes every figure it shows to RTINFER_HOME/demo/summary.json
(the machine-readable record of the run; the end-to-end test reads it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import numpy as np
from rich.console import Console
from rich.table import Table

from jobs import ops
from orchestration.app.runs import run_job
from orchestration.aws import aws_client
from orchestration.endpoint.probe import local_scores, probe_endpoint
from orchestration.settings import load_settings
from serving.features import FEATURE_NAMES

PROBE_ROWS = 300
EXPECTED_STEPS = 5  # train candidate, shadow, canary deploy, A/B game day, drift check (+ approve if needed)


def summary_path() -> Path:
    return load_settings().home / "demo" / "summary.json"


def write_summary(summary: dict) -> Path:
    path = summary_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path


def _metrics_table(record: dict) -> Table:
    table = Table(title=f"Model {record['model_version']} on the held-out week", min_width=64)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in record["metrics"].items():
        table.add_row(name, f"{value:,.0f}" if name.startswith("n_") else f"{value:.4f}")
    return table


def endpoint_figures(deployment: dict, record: dict, rows: np.ndarray) -> dict:
    """Probe the endpoint with held-out rows and compare with the packaged model scored here."""
    probe = probe_endpoint(aws_client("sagemaker-runtime"), deployment["endpoint_name"], rows)
    offline = local_scores(Path(record["artifact_path"]), rows)
    threshold = record["threshold"]
    return {
        "endpoint_name": deployment["endpoint_name"],
        "outcome": deployment["outcome"],
        "production_version": deployment["production_version"],
        "variants": dict(probe.variants),
        "single_row_calls": len(rows),
        "single_row_ms_p50": probe.percentile("single_row_ms", 50),
        "single_row_ms_p99": probe.percentile("single_row_ms", 99),
        "batch_size": probe.batch_size,
        "batch_calls": len(probe.batch_ms),
        "batch_ms_p50": probe.percentile("batch_ms", 50),
        "batch_ms_p99": probe.percentile("batch_ms", 99),
        "max_abs_score_diff": float(np.max(np.abs(probe.endpoint_scores - offline))),
        "decision_agreement": float(np.mean((probe.endpoint_scores >= threshold) == (offline >= threshold))),
    }


def _endpoint_table(figures: dict) -> Table:
    table = Table(title=f"Endpoint {figures['endpoint_name']} ({figures['outcome']})", min_width=64)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("model version served", figures["production_version"])
    table.add_row("variants that answered", ", ".join(f"{k}: {v}" for k, v in figures["variants"].items()))
    table.add_row(
        f"1-row latency p50 / p99 ({figures['single_row_calls']} calls)",
        f"{figures['single_row_ms_p50']:.2f} / {figures['single_row_ms_p99']:.2f} ms",
    )
    table.add_row(
        f"{figures['batch_size']}-row latency p50 / p99 ({figures['batch_calls']} calls)",
        f"{figures['batch_ms_p50']:.2f} / {figures['batch_ms_p99']:.2f} ms",
    )
    table.add_row("max |endpoint − offline score|", f"{figures['max_abs_score_diff']:.2e}")
    table.add_row("decision agreement at threshold", f"{figures['decision_agreement']:.2%}")
    return table


def stream_figures(replayed: dict) -> dict:
    """The replay's figures plus how many records ended somewhere."""
    accounted = replayed["predictions"] + replayed["fallbacks"] + replayed["dead_lettered"]
    return {**replayed, "accounted": accounted}


def stream_table(figures: dict) -> Table:
    table = Table(
        title="Stream path: producers → Kinesis → Lambda → endpoint → S3 audit",
        min_width=64,
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("records in (sent)", f"{figures['sent']:,} at {figures['send_rate_per_s']:,.0f}/s")
    table.add_row("  of which malformed on purpose", f"{figures['malformed_sent']:,}")
    table.add_row("model predictions", f"{figures['predictions']:,}")
    table.add_row("fallback predictions (flagged)", f"{figures['fallbacks']:,}")
    table.add_row("dead-lettered", f"{figures['dead_lettered']:,}")
    table.add_row("accounted for", f"{figures['accounted']:,} of {figures['sent']:,}")
    table.add_row(
        "put → stored latency p50 / p99",
        f"{figures['latency_p50_ms']:.0f} / {figures['latency_p99_ms']:.0f} ms",
    )
    table.add_row("variants", ", ".join(f"{k}: {v:,}" for k, v in figures["variants"].items()) or "-")
    return table


def _model_figures(result: dg.ExecuteInProcessResult, console: Console) -> dict:
    record = result.output_for_node(ops.TRAIN_OP, ops.TRAIN_RECORD)
    console.print(_metrics_table(record))
    checks = []
    for evaluation in result.get_asset_check_evaluations():
        verdict = "[green]passed" if evaluation.passed else "[red]FAILED"
        console.print(f"check {evaluation.check_name}: {verdict} — {evaluation.description}")
        checks.append(
            {
                "name": evaluation.check_name,
                "passed": evaluation.passed,
                "description": evaluation.description,
            }
        )
    console.print(f"artifact: {record['artifact_path']} (sha256 {record['artifact_sha256'][:16]}…)")
    return {"model_version": record["model_version"], "metrics": record["metrics"], "checks": checks}


def _probe(result: dg.ExecuteInProcessResult, console: Console) -> dict:
    held_out = result.output_for_node(ops.FEATURES_OP).tail(PROBE_ROWS)
    rows = held_out[list(FEATURE_NAMES)].to_numpy(np.float64)
    figures = endpoint_figures(
        result.output_for_node(ops.ENDPOINT_OP), result.output_for_node(ops.TRAIN_OP, ops.TRAIN_RECORD), rows
    )
    console.print(_endpoint_table(figures))
    return figures


def _timed(summary: dict, key: str, step, *args) -> object:
    """Run one demo step and record its seconds (what to look at before making the demo shorter)."""
    started = time.monotonic()
    try:
        return step(*args)
    finally:
        summary["seconds"][key] = round(time.monotonic() - started, 1)


def run_demo(instance: dg.DagsterInstance, console: Console, simulation: dict, traffic: dict) -> bool:
    summary: dict = {"ok": False, "simulation": simulation, "traffic": traffic, "seconds": {}}
    try:
        summary["ok"] = _run_steps(instance, console, simulation, traffic, summary)
        return summary["ok"]
    finally:
        console.print(f"summary: {write_summary(summary)}")


def _run_steps(instance, console: Console, simulation: dict, traffic: dict, summary: dict) -> bool:
    """Each step adds its figures to `summary` as soon as it has them (a failed demo keeps what it did)."""
    lifecycle_config = ops.op_config(ops.SIMULATE_OP, simulation)
    result = _timed(
        summary, "fraud_lifecycle", run_job, "fraud_lifecycle", instance, console, lifecycle_config
    )
    if result is None:
        return False
    summary["model"] = _model_figures(result, console)
    summary["endpoint"] = _timed(summary, "endpoint_probe", _probe, result, console)

    replay_config = ops.op_config(ops.REPLAY_OP, traffic)
    replay = _timed(summary, "replay_traffic", run_job, "replay_traffic", instance, console, replay_config)
    if replay is None:
        return False
    summary["stream"] = stream_figures(replay.output_for_node(ops.REPLAY_OP))
    console.print(stream_table(summary["stream"]))

    from orchestration.app.demo_loop import run_lifecycle_loop, story_table

    summary["lifecycle"] = story = []
    _timed(summary, "lifecycle_loop", run_lifecycle_loop, instance, console, simulation, traffic, story)
    console.print(story_table(story))
    checks_passed = all(check["passed"] for check in summary["model"]["checks"])
    return checks_passed and len(story) >= EXPECTED_STEPS and all(row["ok"] for row in story)
