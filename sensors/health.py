"""Sensors that roll back what is broken: endpoint/consumer health, and deployments whose run failed."""

import dagster as dg

from jobs.endpoint import deploy_model, promote, rollback, set_traffic, shadow_model
from jobs.ops import ROLLBACK_OP, op_config
from jobs.tags import decision_tags
from orchestration.endpoint.history import DeploymentHistory
from orchestration.endpoint.names import CANDIDATE, ENDPOINT_NAME, PRODUCTION
from orchestration.endpoint.rollout import drift_from_recorded
from orchestration.monitoring.health import (
    MIN_JUDGING_WINDOW_S,
    HealthLimits,
    health_breaches,
    judging_window_s,
    read_health,
)
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, MonitoringTargets

ENDPOINT_HEALTH = dg.AssetSpec(
    "endpoint_health", group_name="monitoring", description="Endpoint and consumer health, read every minute."
)


def _rollback_request(endpoint: str, key: str, tags: dict[str, str], **config) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=key,
        job_name=rollback.name,
        run_config=op_config(ROLLBACK_OP, {"endpoint_name": endpoint, **config}),
        tags=tags,
    )


@dg.sensor(
    jobs=[rollback],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rolls back the endpoint's latest change when its variants or the consumer break guardrails.",
)
def endpoint_health_sensor(context: dg.SensorEvaluationContext, aws: AwsClients, targets: MonitoringTargets):
    settings = load_settings()
    current = DeploymentHistory(aws.client("s3"), settings, targets.endpoint_name).current()
    if current is None:
        return dg.SkipReason(f"nothing deployed on {targets.endpoint_name} yet")
    window_s = judging_window_s(current.at)
    if window_s < MIN_JUDGING_WINDOW_S:
        return dg.SkipReason(
            f"waiting: {targets.endpoint_name}'s layout ({current.action} at {current.at}) has "
            f"{window_s} s of its own traffic; judging it takes {MIN_JUDGING_WINDOW_S} s"
        )
    sqs = aws.client("sqs")
    reading = read_health(
        aws.client("cloudwatch"),
        sqs,
        targets.endpoint_name,
        [PRODUCTION] if current.mode == "single" else [PRODUCTION, CANDIDATE],
        targets.function_name,
        sqs.get_queue_url(QueueName=targets.dead_letter_queue)["QueueUrl"],
        window_s,  # only the current layout's own metrics
    )
    breaches = health_breaches(reading, HealthLimits())
    observation = dg.AssetObservation(
        ENDPOINT_HEALTH.key, metadata={**reading.as_metadata(), "breaches": "; ".join(breaches) or "none"}
    )
    if not breaches:
        variants = ", ".join(reading.variants) or "no variant"
        return dg.SensorResult(
            asset_events=[observation],
            skip_reason=f"healthy: {targets.endpoint_name} ({variants}) and its consumer within every limit",
        )
    # The latest change is what gets undone; its config name keys the request so it happens once.
    request = _rollback_request(
        targets.endpoint_name,
        f"health:{targets.endpoint_name}:{current.endpoint_config_name}",
        decision_tags("endpoint_health_sensor", "ROLLBACK", "; ".join(breaches), reading.as_metadata()),
    )
    return dg.SensorResult(run_requests=[request], asset_events=[observation])


@dg.run_failure_sensor(
    monitored_jobs=[deploy_model, promote, set_traffic, shadow_model],
    request_job=rollback,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A deployment run that failed after changing the endpoint is rolled back; one that left "
    "the endpoint as it was changes nothing.",
)
def failed_deployment_rollback(context: dg.RunFailureSensorContext, aws: AwsClients):
    run = context.dagster_run
    endpoint = ENDPOINT_NAME
    for op_settings in (run.run_config.get("ops") or {}).values():
        endpoint = (op_settings.get("config") or {}).get("endpoint_name", endpoint)
    current = DeploymentHistory(aws.client("s3"), load_settings(), endpoint).current()
    recorded = current.endpoint_config_name if current else None
    changed = drift_from_recorded(aws.client("sagemaker"), endpoint, recorded)
    if changed is None:
        return dg.SkipReason(
            f"run {run.run_id} of {run.job_name} failed but left {endpoint} as recorded ({recorded}): "
            "nothing to roll back"
        )
    if current is None:
        return dg.SkipReason(
            f"run {run.run_id} failed; {changed}, and no earlier layout is recorded to return to"
        )
    reason = f"run {run.run_id} of {run.job_name} failed mid-change: {changed}"
    tags = decision_tags("failed_deployment_rollback", "ROLLBACK", reason, {"failed_run": run.run_id})
    return _rollback_request(endpoint, f"failed-run:{run.run_id}", tags, restore_recorded=True)
