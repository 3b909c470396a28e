"""The A/B sensor: each tick, judge the candidate against production and promote or roll back."""

import dagster as dg

from jobs.endpoint import promote, rollback
from jobs.ops import PROMOTE_OP, ROLLBACK_OP, op_config
from jobs.tags import decision_tags
from orchestration.monitoring.ab_test import Verdict
from orchestration.monitoring.ab_tick import ab_tick
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, MonitoringTargets

AB_DECISIONS = dg.AssetSpec(
    "ab_decisions", group_name="monitoring", description="Every A/B sensor decision, with its statistics."
)
_JOB_FOR = {Verdict.PROMOTE: promote, Verdict.ROLLBACK: rollback}


@dg.sensor(
    jobs=[promote, rollback],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Always-valid sequential A/B test (mSPRT) plus label-free guardrails; launches promote or "
    "rollback once per candidate and verdict.",
)
def ab_test_sensor(context: dg.SensorEvaluationContext, aws: AwsClients, targets: MonitoringTargets):
    tick = ab_tick(
        aws.client("dynamodb"),
        aws.client("s3"),
        aws.client("cloudwatch"),
        load_settings(),
        targets.endpoint_name,
        targets.audit_bucket,
        targets.labels_table,
        context.cursor,
    )
    context.update_cursor(tick.cursor)
    if tick.verdict is None:
        return dg.SkipReason(tick.reason)
    observation = dg.AssetObservation(
        AB_DECISIONS.key,
        metadata={
            **tick.statistics,
            "verdict": tick.verdict.value,
            "reason": tick.reason,
            "candidate": tick.candidate_version or "",
            "tick_seconds": tick.seconds,
        },
    )
    job = _JOB_FOR.get(tick.verdict)
    if job is None:
        return dg.SensorResult(asset_events=[observation], skip_reason=f"{tick.verdict.value}: {tick.reason}")
    config_op = PROMOTE_OP if job is promote else ROLLBACK_OP
    request = dg.RunRequest(
        run_key=f"ab:{targets.endpoint_name}:{tick.candidate_version}:{tick.verdict.value}",
        job_name=job.name,
        run_config=op_config(config_op, {"endpoint_name": targets.endpoint_name}),
        tags=decision_tags(
            "ab_test_sensor",
            tick.verdict.value,
            tick.reason,
            tick.statistics,
            candidate=tick.candidate_version or "",
        ),
    )
    return dg.SensorResult(run_requests=[request], asset_events=[observation])
