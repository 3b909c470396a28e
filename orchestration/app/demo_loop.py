"""The second half of `rtinfer demo`: the model lifecycle and its automated decisions, end to end.

A second version is trained and registered, shadowed on live traffic and compared, deployed with a
canary; then a faulty candidate is A/B tested and the A/B sensor rolls it back; finally drifted
traffic is replayed, the drift check catches it and the retraining sensor asks for a new model.
Every step is a Dagster run in the instance the UI reads; the sensors tick through that instance
(their decisions are recorded on their assets, and the runs they launch carry their tags and reasons).

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
from orchestration.app.runs import QUIET_LOGGERS, run_job, tick_sensor
from orchestration.aws import aws_client
from orchestration.endpoint.names import PACKAGE_GROUP
from orchestration.model.registry import find_version, register_version
from orchestration.settings import load_settings

CANDIDATE_TRAINING = {"max_depth": 4, "learning_rate": 0.15, "seed": 1}
GAME_DAY_FAULT = "error_rate=0.3"
DRIFT = {"amount_scale": 3.0, "category_shift": {"travel": 8.0, "online_retail": 3.0}}
AB_PHASES = 3  # phases of traffic the A/B sensor may need before it acts


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
        content_sha256=base.content_sha256,
    )
    return faulty


def _observed(tick) -> dict:
    """The decision the sensor recorded on its asset (ab_decisions), as plain values."""
    if not tick.observations:
        return {}
    return {key: getattr(value, "value", value) for key, value in tick.observations[0].metadata.items()}


def _faulty_candidate_ab(instance, console, traffic: dict, version: str) -> dict:
    """Game day: the same artifact with a fault injected, A/B tested; the A/B sensor must roll it back.

    The stream goes on (no reseeding) and the real sensor ticks after each phase of traffic, through
    the instance, until it acts or AB_PHASES phases have passed (as the daemon would keep ticking).
    """
    faulty = _register_faulty(version)
    config = ops.op_config(ops.SPLIT_OP, {"model_version": faulty, "candidate_weight": 0.5})
    _required_run("set_traffic", instance, console, config)
    cursor, phases = None, 0
    for phase in range(2, 2 + AB_PHASES):
        _required_run("replay_traffic", instance, console, _phase(traffic, phase))
        phases += 1
        tick, cursor = tick_sensor("ab_test_sensor", instance, console, cursor)
        if tick.runs:
            break
    decision = _observed(tick)
    verdict, reason = decision.get("verdict", "SKIPPED"), decision.get("reason", tick.skip_reason or "")
    ran = [job for job, run_id in tick.runs.items() if run_id is not None]
    action = f"sensor verdict {verdict}" + (f" → launched {', '.join(ran)}" if ran else "")
    return _step(
        "A/B game day",
        f"{faulty} vs {version}: {action} after {phases} phase(s) of traffic",
        reason,
        candidate=faulty,
        production=version,
        verdict=verdict,
        reason=reason,
        ran=ran,
        run_ids=dict(tick.runs),
        phases=phases,
        statistics={
            k: v for k, v in decision.items() if isinstance(v, int | float) and not isinstance(v, bool)
        },
    )


def _drift(instance, console, simulation: dict, traffic: dict) -> dict:
    """Replay traffic from a drifted world; today's drift check must catch it, and the retraining
    sensor must ask for a new model."""
    _required_run("simulate", instance, console, ops.op_config(ops.SIMULATE_OP, {**simulation, **DRIFT}))
    _required_run("replay_traffic", instance, console, ops.op_config(ops.REPLAY_OP, traffic))
    today = datetime.now(tz=UTC).date().isoformat()
    from orchestration.definitions import defs

    result = defs.resolve_job_def("drift_check").execute_in_process(
        run_config=QUIET_LOGGERS, instance=instance, partition_key=today, raise_on_error=False
    )
    if not result.success:
        raise StepFailed(f"the drift_check run {result.run_id} failed (its logs are in the UI's Runs page)")
    report = result.output_for_node(ops.DRIFT_REPORT_OP)
    drifted = report.get("drifted_features", [])
    tick, _ = tick_sensor("retrain_on_critical_drift", instance, console)
    retrained = [job for job, run_id in tick.runs.items() if run_id is not None]
    response = (
        f"retrain_on_critical_drift launched {', '.join(retrained)}"
        if retrained
        else f"retrain_on_critical_drift: {tick.skip_reason or 'no run requested'}"
    )
    return _step(
        "drift check",
        f"{today}: {report['level']} ({report['rows']:,} rows)",
        f"drifted: {', '.join(drifted[:6]) or 'none'}. {response}",
        partition=today,
        level=report["level"],
        rows=report["rows"],
        drifted_features=drifted,
        drifted_share=report.get("drifted_share"),
        report_url=report["report_url"],
        retrained=retrained,
        run_ids=dict(tick.runs),
    )


def story_table(story: list[dict]) -> Table:
    table = Table(title="What the lifecycle did, and why", min_width=64)
    for column in ("step", "what happened", "why"):
        table.add_column(column)
    for row in story:
        table.add_row(row["step"], row["happened"], row["why"])
    return table
