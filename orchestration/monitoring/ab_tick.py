"""One look at a running A/B test: what the A/B sensor does on each tick, as a plain function.

The cursor (JSON) carries the candidate under test, where in the audit objects it reads from and the
replay clock up to which outcomes were already counted (orchestration/monitoring/audit_cursor.py),
and the sequential test's running sums, so each tick reads only the objects that may still hold an
uncounted outcome, fetches only their labels, and feeds each matured outcome to the test once.
Label-free guardrails (errors, p99 latency, decline rate, sample-ratio mismatch) are checked on the
objects of the recent window and roll a breaking candidate back at once, without waiting for labels.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

from orchestration.endpoint.history import DeploymentHistory
from orchestration.endpoint.names import CANDIDATE, PRODUCTION
from orchestration.monitoring.ab_test import ABConfig, ABState, Decision, Verdict, evaluate_ab
from orchestration.monitoring.audit_cursor import AuditCursor, step
from orchestration.monitoring.guardrails import GuardrailConfig, check_guardrails, stats_from_predictions
from orchestration.monitoring.health import read_variant_health
from orchestration.monitoring.outcomes import join_outcomes
from orchestration.monitoring.reads import deployment_started_ms, predictions_frame, read_labels_of
from orchestration.settings import Settings
from orchestration.stream.audit_log import AuditReader, unique_requests_keyed
from serving.consumer.audit import time_key

GUARDRAIL_WINDOW_MS = 5 * 60 * 1000
STREAM_P99_BUDGET_MS = 10_000.0  # put → stored, micro-batching included
# How long after its first record arrived a batch's audit object may appear: the function's timeout
# and retries, and a backlog (iterator age) up to this. A later object's outcomes that matured before
# it appeared are not counted (the sensor says so in no way): keep the mapping's backlog below it.
AUDIT_LATENESS_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class ABTick:
    cursor: str
    verdict: Verdict | None  # None: no A/B test is running
    reason: str
    candidate_version: str | None = None
    statistics: dict = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _fresh_cursor(candidate_arn: str | None, started_ms: int = 0) -> dict:
    return {
        "candidate_arn": candidate_arn,
        "audit": AuditCursor.starting(started_ms, AUDIT_LATENESS_MS).to_dict(),
        "state": ABState().to_dict(),
    }


def ab_tick(
    dynamodb,
    s3,
    cloudwatch,
    settings: Settings,
    endpoint: str,
    audit_bucket: str,
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
    started_ms = deployment_started_ms(current)
    cursor = json.loads(cursor_json) if cursor_json else _fresh_cursor(current.candidate_arn, started_ms)
    if cursor["candidate_arn"] != current.candidate_arn or "audit" not in cursor:
        # a new candidate starts a new test; so does a cursor of the release that scanned a table
        cursor = _fresh_cursor(current.candidate_arn, started_ms)
    audit = AuditCursor.from_dict(cursor["audit"])

    now_ms = now_ms or int(time.time() * 1000)
    recent_key = time_key(now_ms - GUARDRAIL_WINDOW_MS)  # the guardrails read only the last window
    # One listing serves both reads: the test's objects (from the cursor) and the guardrails' window.
    keyed = [
        (key, row)
        for key, row in AuditReader(s3, audit_bucket).rows_after(min(audit.start_after, recent_key))
        if row["predicted_ms"] >= started_ms
    ]
    if not keyed:
        return ABTick(
            json.dumps(cursor),
            Verdict.CONTINUE,
            "waiting for traffic: no predictions since the test started",
            current.candidate_version,
            seconds=time.monotonic() - started,
        )

    weight = float(current.candidate_weight or 0.5)
    window_start = now_ms - GUARDRAIL_WINDOW_MS
    recent = predictions_frame(
        [row for key, row in keyed if key > recent_key and row["predicted_ms"] >= window_start]
    )
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

    under_test = unique_requests_keyed([(key, row) for key, row in keyed if key > audit.start_after])
    # the replay clock: labels mature against event time
    as_of = max([audit.as_of_ms or 0] + [row["event_ms"] for _, row in under_test])
    labels = read_labels_of(dynamodb, labels_table, [row["request_id"] for _, row in under_test])
    available = dict(zip(labels["request_id"], labels["label_available_ms"].astype(int), strict=True))
    moved = step(audit, under_test, available, as_of, now_ms, AUDIT_LATENESS_MS)
    counted = predictions_frame(moved.counted)
    costs = {CANDIDATE: [], PRODUCTION: []}
    if not counted.empty:
        outcomes = join_outcomes(counted, labels, as_of)
        costs = {variant: outcomes.costs(variant) for variant in costs}
    state, decision = evaluate_ab(
        ABState.from_dict(cursor["state"]), costs[CANDIDATE], costs[PRODUCTION], ab_config
    )
    cursor.update(audit=moved.cursor.to_dict(), state=state.to_dict())
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
