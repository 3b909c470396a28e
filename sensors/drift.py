"""Drift checks: daily on schedule, sooner when enough new traffic arrived, retraining when critical.

Drift alone never rolls a deployment back: it asks for a new model (train_candidate), which then goes
through the registry and a guarded deployment like any other.
"""

from datetime import UTC, datetime

import dagster as dg

from jobs.drift import drift_check_job
from jobs.lifecycle import train_candidate_job
from jobs.tags import decision_tags
from orchestration.endpoint.names import PRODUCTION
from orchestration.monitoring.drift_window import day_capture_keys
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, MonitoringTargets

NEW_CAPTURE_FILES_FOR_A_CHECK = 20


@dg.sensor(
    job=drift_check_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs today's drift check once enough new inference inputs have been captured.",
)
def drift_on_new_traffic(context: dg.SensorEvaluationContext, aws: AwsClients, targets: MonitoringTargets):
    today = datetime.now(tz=UTC).date().isoformat()
    keys = day_capture_keys(
        aws.client("s3"), load_settings().bucket, targets.endpoint_name, PRODUCTION, today
    )
    checked = int(context.cursor or 0) if (context.cursor or "").isdigit() else 0
    if len(keys) - checked < NEW_CAPTURE_FILES_FOR_A_CHECK:
        return dg.SkipReason(
            f"{len(keys) - checked} new capture files today; waiting for {NEW_CAPTURE_FILES_FOR_A_CHECK}"
        )
    context.update_cursor(str(len(keys)))
    return dg.RunRequest(run_key=f"drift:{today}:{len(keys)}", partition_key=today)


@dg.asset_sensor(
    asset_key=dg.AssetKey("drift_report"),
    job=train_candidate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A CRITICAL drift report requests a retraining run (never a rollback).",
)
def retrain_on_critical_drift(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    materialization = asset_event.asset_materialization
    level = materialization.metadata.get("level")
    if level is None or level.value != "CRITICAL":
        return dg.SkipReason(f"drift level {level.value if level else 'unknown'}: no retraining needed")
    # One retraining per drifted day, whichever path produced the report (the schedule, the new-traffic
    # sensor, a person): a second CRITICAL report of the same day repeats the run key, and Dagster
    # skips a run key it has seen.
    return dg.RunRequest(
        run_key=f"retrain:{materialization.partition}",
        tags=decision_tags(
            "retrain_on_critical_drift", "RETRAIN", f"critical drift on {materialization.partition}"
        ),
    )
