"""One look at a running A/B test: what the A/B sensor does on each tick, as a plain function.

The cursor (JSON) carries the candidate under test, the replay clock up to which outcomes were already
counted, and the sequential test's running sums, so each tick reads only newly matured outcomes into
the test. Label-free guardrails (errors, p99 latency, decline rate, sample-ratio mismatch) are checked
on the recent window and roll a breaking candidate back at once, without waiting for labels.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime

from orchestration.endpoint.history import DeploymentHistory
from orchestration.endpoint.names import CANDIDATE, PRODUCTION
from orchestration.monitoring.ab_test import ABConfig, ABState, Decision, Verdict, evaluate_ab
from orchestration.monitoring.guardrails import GuardrailConfig, check_guardrails, stats_from_predictions
from orchestration.monitoring.health import read_variant_health
from orchestration.monitoring.outcomes import join_outcomes
from orchestration.monitoring.reads import read_labels, read_predictions
from orchestration.settings import Settings

GUARDRAIL_WINDOW_MS = 5 * 60 * 1000
STREAM_P99_BUDGET_MS = 10_000.0  # put → stored, micro-batching included


@dataclass(frozen=True)
class ABTick:
    cursor: str
    verdict: Verdict | None  # None: no A/B test is running
    reason: str
    candidate_version: str | None = None
    statistics: dict = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _fresh_cursor(candidate_arn: str | None) -> dict:
    return {"candidate_arn": candidate_arn, "as_of_ms": None, "state": ABState().to_dict()}


def ab_tick(
    dynamodb,
    s3,
    cloudwatch,
    settings: Settings,
    endpoint: str,
    predictions_table: str,
    labels_table: str,
    cursor_json: str | None,
    ab_config: ABConfig | None = None,
    guardrails: GuardrailConfig | None = None,
    now_ms: int | None = None,
) -> ABTick:
    started = time.monotonic()
    current = DeploymentHistory(s3, settings, endpoint).current()
    if current is None or current.mode != "ab":
        mode = current.mode if current else "none"
        return ABTick(
            json.dumps(_fresh_cursor(None)), None, f"no A/B test in progress on {endpoint} (mode {mode})"
        )
    cursor = json.loads(cursor_json) if cursor_json else _fresh_cursor(current.candidate_arn)
    if cursor["candidate_arn"] != current.candidate_arn:
        cursor = _fresh_cursor(current.candidate_arn)  # a new candidate starts a new test

    started_ms = int(datetime.fromisoformat(current.at).timestamp() * 1000)
    predictions = read_predictions(dynamodb, predictions_table)
    if not predictions.empty:
        predictions = predictions[predictions["predicted_ms"] >= started_ms]
    if predictions.empty:
        return ABTick(
            json.dumps(cursor),
            Verdict.CONTINUE,
            "waiting for traffic: no predictions since the test started",
            current.candidate_version,
            seconds=time.monotonic() - started,
        )

    weight = float(current.candidate_weight or 0.5)
    now_ms = now_ms or int(time.time() * 1000)
    recent = predictions[predictions["predicted_ms"] >= now_ms - GUARDRAIL_WINDOW_MS]
    guardrails = guardrails or GuardrailConfig(
        production_variant=PRODUCTION, max_p99_latency_ms=STREAM_P99_BUDGET_MS
    )
    # Failed calls leave no per-variant prediction (they become fallbacks): count them, and the calls
    # they are a share of, from CloudWatch.
    health = read_variant_health(cloudwatch, endpoint, [PRODUCTION, CANDIDATE])
    errors = {variant: int(figures["errors"]) for variant, figures in health.items()}
    calls = {variant: int(figures["invocations"]) for variant, figures in health.items()}
    stats = stats_from_predictions(recent, errors, calls)
    breaches = (
        check_guardrails(stats, {PRODUCTION: 1.0 - weight, CANDIDATE: weight}, guardrails) if stats else []
    )

    as_of = int(predictions["event_ms"].max())  # the replay clock: labels mature against event time
    outcomes = join_outcomes(
        predictions, read_labels(dynamodb, labels_table), as_of, matured_after_ms=cursor["as_of_ms"]
    )
    state, decision = evaluate_ab(
        ABState.from_dict(cursor["state"]), outcomes.costs(CANDIDATE), outcomes.costs(PRODUCTION), ab_config
    )
    cursor.update(as_of_ms=as_of, state=state.to_dict())
    verdict, reason = decision.verdict, decision.reason
    if breaches:
        verdict, reason = Verdict.ROLLBACK, "guardrail breached: " + "; ".join(b.message for b in breaches)
    return ABTick(
        cursor=json.dumps(cursor),
        verdict=verdict,
        reason=reason,
        candidate_version=current.candidate_version,
        statistics={**_guardrail_figures(stats), **_statistics(decision)},  # what acted first, first
        breaches=[b.message for b in breaches],
        seconds=round(time.monotonic() - started, 3),
    )


def _guardrail_figures(stats: dict) -> dict:
    """Per variant: requests, errors, error rate, p99 latency (finite ones only) of the recent window."""
    figures = {}
    for variant, figure in sorted(stats.items()):
        for name, value in (
            ("requests", figure.requests),
            ("errors", figure.errors),
            ("error_rate", figure.error_rate),
            ("p99_latency_ms", figure.p99_latency_ms),
        ):
            if math.isfinite(value):
                figures[f"{variant}_{name}"] = value
    return figures


def _statistics(decision: Decision) -> dict:
    """The decision's figures; a mean or effect with no matured outcomes behind it is left out, not NaN."""
    return {
        k: v
        for k, v in decision.to_metadata().items()
        if isinstance(v, str) or (isinstance(v, int | float) and math.isfinite(v))
    }
