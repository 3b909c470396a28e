"""The second half of `rtinfer demo`: the model lifecycle and its automated decisions, end to end.

A second version is trained and registered, shadowed on live traffic and compared, deployed with a
canary; then a faulty candidate is A/B tested and the A/B sensor's own logic rolls it back; finally
drifted traffic is replayed and the drift check catches it. Every step is a Dagster run (visible in
the UI) or the sensor evaluated exactly as the daemon evaluates it.

Each step is a dict: `step`, `happened` and `why` (the table's columns), the figures behind them,
`ok` (False when a run the step needed failed; the loop stops there) and `seconds`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import dagster as dg
from rich.console import Console
from rich.table import Table

from jobs import ops
from orchestration.app.runs import QUIET_LOGGERS, run_job
from orchestration.aws import aws_client
from orchestration.endpoint.names import PACKAGE_GROUP
from orchestration.model.registry import find_version, register_version
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, MonitoringTargets

CANDIDATE_TRAINING = {"max_depth": 4, "learning_rate": 0.15, "seed": 1}
GAME_DAY_FAULT = "error_rate=0.3"
DRIFT = {"amount_scale": 3.0, "category_shift": {"travel": 8.0, "online_retail": 3.0}}
WHY_WIDTH = 160  # the table's "why" is cut here; the summary keeps the whole reason


def _phase(traffic: dict, n: int) -> dict:
    """Traffic that continues where phase n-1 stopped (phase 0 is the demo's first replay)."""
    sent = int(traffic["rate"] * traffic["duration_s"])
    return ops.op_config(ops.REPLAY_OP, {**traffic, "offset": n * sent, "seed_state": False})


def _step(name: str, happened: str, why: str, **figures) -> dict:
    return {"step": name, "happened": happened, "why": why, **figures}


class StepFailed(Exception):
    """A run a step needs failed: the step cannot say what happened, and the loop stops there."""


def _required_run(job_name: str, instance, console: Console, run_config: dict) -> dg.ExecuteInProcessResult:
    result = run_job(job_name, instance, console, run_config)
    if result is None:
        raise StepFailed(f"the {job_name} run failed (its logs are in the UI's Runs page)")
    return result


def _timed(story: list[dict], name: str, step, *args) -> dict | None:
    """Run one step and append its row with its seconds; on a failed run, a failed row and None."""
    started = time.monotonic()
    try:
        row = {**step(*args), "ok": True}
    except StepFailed as failure:
        row = {**_step(name, "failed", str(failure)), "ok": False}
    story.append({**row, "seconds": round(time.monotonic() - started, 1)})
    return row if row["ok"] else None


def run_lifecycle_loop(instance, console: Console, simulation: dict, traffic: dict, story: list) -> None:
    """Run the loop, appending each step's row to `story` as it finishes; stop at a failed step."""
    candidate = _timed(story, "train candidate", _train_candidate, instance, console)
    if candidate is None:
        return
    version = candidate["model_version"]
    steps = [
        ("shadow", _shadow, traffic),
        ("canary deploy", _canary_deploy),
        ("A/B game day", _faulty_candidate_ab, traffic),
    ]
    if candidate["approval"] != "Approved":
        steps.insert(0, ("approve", _approve))
    for name, step, *extra in steps:
        if _timed(story, name, step, instance, console, *extra, version) is None:
            return
    _timed(story, "drift check", _drift, instance, console, simulation, traffic)


def _train_candidate(instance, console) -> dict:
    config = ops.op_config(ops.TRAIN_OP, CANDIDATE_TRAINING)
    trained = _required_run("train_candidate", instance, console, config)
    candidate = trained.output_for_node(ops.REGISTER_OP)
    findings = candidate["review_findings"]
    return _step(
        "train candidate",
        f"{candidate['model_version']} registered as {candidate['approval']}",
        "; ".join(findings) or "review clean",
        model_version=candidate["model_version"],
        approval=candidate["approval"],
        review_findings=findings,
    )


def _approve(instance, console, version: str) -> dict:
    config = ops.op_config(ops.APPROVE_OP, {"model_version": version, "note": "approved in the demo"})
    _required_run("approve_model_version", instance, console, config)
    return _step(
        "approve", f"{version} approved by the approval job", "a person's decision, recorded", approved=True
    )


def _shadow(instance, console, traffic: dict, version: str) -> dict:
    config = ops.op_config(ops.SHADOW_OP, {"model_version": version})
    _required_run("shadow_model", instance, console, config)
    _required_run("replay_traffic", instance, console, _phase(traffic, 1))
    compared = _required_run("monitoring_refresh", instance, console, {})
    shadow = compared.output_for_node(ops.SHADOW_COMPARISON_OP)
    agreement, spearman = shadow.get("agreement_rate", float("nan")), shadow.get("spearman", float("nan"))
    return _step(
        "shadow",
        f"{version} saw {shadow.get('paired', 0):,} mirrored requests",
        f"decision agreement {agreement:.3f}, rank correlation {spearman:.3f}",
        paired=shadow.get("paired", 0),
        agreement_rate=agreement,
        spearman=spearman,
    )


def _canary_deploy(instance, console, version: str) -> dict:
    config = ops.op_config(ops.DEPLOY_OP, {"model_version": version, "strategy": "CANARY"})
    deployed = run_job("deploy_model", instance, console, config)
    outcome = deployed.output_for_node(ops.DEPLOY_OP) if deployed else {"outcome": "failed"}
    return _step(
        "canary deploy",
        f"{version}: {outcome['outcome']}",
        outcome.get("failure_reason") or "alarms stayed OK while the canary baked",
        outcome=outcome["outcome"],
        failure_reason=outcome.get("failure_reason"),
    )


def _register_faulty(version: str) -> str:
    """The same artifact as `version`, registered with a fault injected into its model server."""
    settings, sm = load_settings(), aws_client("sagemaker")
    base = find_version(sm, PACKAGE_GROUP, version)
    faulty = f"{version}-gameday"
    register_version(
        sm,
        settings,
        PACKAGE_GROUP,
        faulty,
        base.model_data_url,
        {"game_day": GAME_DAY_FAULT},
        True,
        {"RTINFER_FAULT": GAME_DAY_FAULT},
    )
    return faulty


def _evaluate_ab_sensor(instance) -> dg.SensorResult | dg.SkipReason:
    """One tick of the A/B sensor, evaluated as the daemon evaluates it."""
    from orchestration.definitions import defs
    from sensors.ab import ab_test_sensor

    context = dg.build_sensor_context(
        instance=instance, resources={"aws": AwsClients(), "targets": MonitoringTargets()}, definitions=defs
    )
    return ab_test_sensor(context)


def _faulty_candidate_ab(instance, console, traffic: dict, version: str) -> dict:
    """Game day: the same artifact with a fault injected, A/B tested; the A/B sensor must roll it back."""
    faulty = _register_faulty(version)
    config = ops.op_config(ops.SPLIT_OP, {"model_version": faulty, "candidate_weight": 0.5})
    _required_run("set_traffic", instance, console, config)
    _required_run("replay_traffic", instance, console, _phase(traffic, 2))  # the stream goes on: no reseeding
    result = _evaluate_ab_sensor(instance)
    requests = getattr(result, "run_requests", None) or []
    observation = result.asset_events[0].metadata if getattr(result, "asset_events", None) else {}
    verdict = observation["verdict"].value if "verdict" in observation else "SKIPPED"
    reason = observation["reason"].value if "reason" in observation else str(result)
    ran = []  # the jobs the sensor asked for that ran to success
    for request in requests:
        if run_job(request.job_name, instance, console, request.run_config) is not None:
            ran.append(request.job_name)
    action = f"sensor verdict {verdict}" + (f" → ran {', '.join(ran)}" if ran else "")
    return _step(
        "A/B game day",
        f"{faulty} vs {version}: {action}",
        reason[:WHY_WIDTH],
        candidate=faulty,
        production=version,
        verdict=verdict,
        reason=reason,
        ran=ran,
    )


def _drift(instance, console, simulation: dict, traffic: dict) -> dict:
    """Replay traffic from a drifted world; today's drift check must catch it."""
    _required_run("simulate", instance, console, ops.op_config(ops.SIMULATE_OP, {**simulation, **DRIFT}))
    _required_run("replay_traffic", instance, console, ops.op_config(ops.REPLAY_OP, traffic))
    today = datetime.now(tz=UTC).date().isoformat()
    from orchestration.definitions import defs

    result = defs.resolve_job_def("drift_check").execute_in_process(
        run_config=QUIET_LOGGERS, instance=instance, partition_key=today, raise_on_error=False
    )
    if not result.success:
        return _step("drift check", "failed", f"run {result.run_id}: see the UI for its logs", level="FAILED")
    report = result.output_for_node(ops.DRIFT_REPORT_OP)
    drifted = report.get("drifted_features", [])
    retrain = (
        "CRITICAL: retrain_on_critical_drift requests train_candidate"
        if report["level"] == "CRITICAL"
        else ""
    )
    return _step(
        "drift check",
        f"{today}: {report['level']} ({report['rows']:,} rows)",
        f"drifted: {', '.join(drifted[:6]) or 'none'}. {retrain}".strip(),
        partition=today,
        level=report["level"],
        rows=report["rows"],
        drifted_features=drifted,
        drifted_share=report.get("drifted_share"),
    )


def story_table(story: list[dict]) -> Table:
    table = Table(title="What the lifecycle did, and why", min_width=64)
    for column in ("step", "what happened", "why"):
        table.add_column(column)
    for row in story:
        table.add_row(row["step"], row["happened"], row["why"])
    return table
