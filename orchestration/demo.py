"""What `rtinfer demo` does: run the main job with progress, then summarise what it produced."""

from __future__ import annotations

import dagster as dg
from rich.console import Console
from rich.table import Table

from orchestration.run_progress import run_job_with_progress


def _metrics_table(record: dict) -> Table:
    table = Table(title=f"Model {record['model_version']} on the held-out week", min_width=64)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in record["metrics"].items():
        table.add_row(name, f"{value:,.0f}" if name.startswith("n_") else f"{value:.4f}")
    return table


def run_demo(instance: dg.DagsterInstance, console: Console, simulation: dict) -> bool:
    from orchestration.definitions import defs

    job = defs.resolve_job_def("fraud_lifecycle")
    run_config = {"ops": {"simulated_transactions": {"config": simulation}}}
    result = run_job_with_progress(job, instance, run_config, console)
    if not result.success:
        console.print(f"[red]run {result.run_id} failed; see `make dev` → Runs for the step logs")
        return False
    record = result.output_for_node("fraud_model")
    console.print(_metrics_table(record))
    for evaluation in result.get_asset_check_evaluations():
        verdict = "[green]passed" if evaluation.passed else "[red]FAILED"
        console.print(f"check {evaluation.check_name}: {verdict} — {evaluation.description}")
    console.print(f"artifact: {record['artifact_path']} (sha256 {record['artifact_sha256'][:16]}…)")
    return all(evaluation.passed for evaluation in result.get_asset_check_evaluations())
