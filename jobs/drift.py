"""The drift check: one day's captured inference inputs against the training reference, daily at 00:30 UTC
(the sensors in sensors/drift.py run it sooner when enough new traffic arrived)."""

import dagster as dg

drift_check_job = dg.define_asset_job(
    "drift_check",
    selection=dg.AssetSelection.assets("drift_report"),
    description="Evidently drift report of one day's captured inference inputs.",
)

daily_drift_schedule = dg.build_schedule_from_partitioned_job(
    drift_check_job,
    hour_of_day=0,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
