"""The second half of `rtinfer demo`: the model lifecycle and its automated decisions, end to end.

A second version is trained and registered, shadowed on live traffic and compared, deployed with a
canary; then a faulty candidate is A/B tested and the A/B sensor's own logic rolls it back; finally
drifted traffic is replayed and the drift check catches it. Every step is a Dagster run (visible in
the UI) or the sensor evaluated exactly as the daemon evaluates it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from rich.console import Console
from rich.table import Table

from orchestration.app.runs import QUIET_LOGGERS
from orchestration.aws import aws_client
from orchestration.endpoint.names import PACKAGE_GROUP
from orchestration.model.registry import find_version, register_version
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, MonitoringTargets

CANDIDATE_TRAINING = {"max_depth": 4, "learning_rate": 0.15, "seed": 1}
GAME_DAY_FAULT = "error_rate=0.3"
DRIFT = {"amount_scale": 3.0, "category_shift": {"travel": 8.0, "online_retail": 3.0}}


def _ops(op: str, config: dict) -> dict:
    return {"ops": {op: {"config": config}}}


def _phase(traffic: dict, n: int) -> dict:
    """Traffic that continues where phase n-1 stopped (phase 0 is the demo's first replay)."""
    sent = int(traffic["rate"] * traffic["duration_s"])
    return _ops("traffic_replay", {**traffic, "offset": n * sent, "seed_state": False})


def run_lifecycle_loop(instance, console: Console, simulation: dict, traffic: dict, run_job) -> list[tuple]:
    """Run the loop; return the summary rows (step, what happened, why)."""
    story: list[tuple[str, str, str]] = []

    trained = run_job("train_candidate", instance, console, _ops("fraud_model", CANDIDATE_TRAINING))
    if trained is None:
        return story
    candidate = trained.output_for_node("registered_model")
    version = candidate["model_version"]
    story.append(
        (
            "train candidate",
            f"{version} registered as {candidate['approval']}",
            "; ".join(candidate["review_findings"]) or "review clean",
        )
    )
    if candidate["approval"] != "Approved":
        run_job(
            "approve_model_version",
            instance,
            console,
            _ops("decide_approval", {"model_version": version, "note": "approved in the demo"}),
        )
        story.append(("approve", f"{version} approved by the approval job", "a person's decision, recorded"))

    run_job("shadow_model", instance, console, _ops("shadow_version", {"model_version": version}))
    run_job("replay_traffic", instance, console, _phase(traffic, 1))
    compared = run_job("monitoring_refresh", instance, console, {})
    shadow = compared.output_for_node("shadow_comparison") if compared else {}
    story.append(
        (
            "shadow",
            f"{version} saw {shadow.get('paired', 0):,} mirrored requests",
            f"decision agreement {shadow.get('decision_agreement', float('nan')):.3f}, rank correlation "
            f"{shadow.get('score_spearman', float('nan')):.3f}",
        )
    )

    deployed = run_job(
        "deploy_model",
        instance,
        console,
        _ops("deploy_version", {"model_version": version, "strategy": "CANARY"}),
    )
    outcome = deployed.output_for_node("deploy_version") if deployed else {"outcome": "failed"}
    story.append(
        (
            "canary deploy",
            f"{version}: {outcome['outcome']}",
            outcome.get("failure_reason") or "alarms stayed OK while the canary baked",
        )
    )

    story.append(_faulty_candidate_ab(instance, console, traffic, version, run_job))
    story.append(_drift(instance, console, simulation, traffic, run_job))
    return story


def _faulty_candidate_ab(instance, console, traffic, version, run_job) -> tuple[str, str, str]:
    """Game day: the same artifact with a fault injected, A/B tested; the A/B sensor must roll it back."""
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
    run_job(
        "set_traffic",
        instance,
        console,
        _ops("split_traffic", {"model_version": faulty, "candidate_weight": 0.5}),
    )
    run_job("replay_traffic", instance, console, _ops("traffic_replay", traffic))

    from orchestration.definitions import defs
    from sensors.ab import ab_test_sensor

    context = dg.build_sensor_context(
        instance=instance, resources={"aws": AwsClients(), "targets": MonitoringTargets()}, definitions=defs
    )
    result = ab_test_sensor(context)
    requests = getattr(result, "run_requests", None) or []
    observation = result.asset_events[0].metadata if getattr(result, "asset_events", None) else {}
    verdict = observation.get("verdict").value if observation.get("verdict") else "SKIPPED"
    reason = observation.get("reason").value if observation.get("reason") else str(result)
    for request in requests:
        run_job(request.job_name, instance, console, request.run_config)
    action = f"sensor verdict {verdict}" + (f" → ran {requests[0].job_name}" if requests else "")
    return ("A/B game day", f"{faulty} vs {version}: {action}", reason[:160])


def _drift(instance, console, simulation, traffic, run_job) -> tuple[str, str, str]:
    """Replay traffic from a drifted world; today's drift check must catch it."""
    run_job("simulate", instance, console, _ops("simulated_transactions", {**simulation, **DRIFT}))
    run_job("replay_traffic", instance, console, _ops("traffic_replay", traffic))
    today = datetime.now(tz=UTC).date().isoformat()
    from orchestration.definitions import defs

    result = defs.resolve_job_def("drift_check").execute_in_process(
        run_config=QUIET_LOGGERS, instance=instance, partition_key=today, raise_on_error=False
    )
    if not result.success:
        return ("drift check", "failed", f"run {result.run_id}: see the UI for its logs")
    report = result.output_for_node("drift_report")
    retrain = (
        "CRITICAL: retrain_on_critical_drift requests train_candidate"
        if report["level"] == "CRITICAL"
        else ""
    )
    return (
        "drift check",
        f"{today}: {report['level']} ({report['rows']:,} rows)",
        f"drifted: {', '.join(report['drifted_features'][:6]) or 'none'}. {retrain}".strip(),
    )


def story_table(story: list[tuple[str, str, str]]) -> Table:
    table = Table(title="What the lifecycle did, and why", min_width=64)
    for column in ("step", "what happened", "why"):
        table.add_column(column)
    for row in story:
        table.add_row(*row)
    return table
