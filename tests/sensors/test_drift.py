"""The drift sensors of sensors/drift.py: a drift check once enough inputs were captured today, and
retraining (never a rollback) on a CRITICAL report, fed the real events Dagster would give them."""

import contextlib
from datetime import UTC, datetime

import dagster as dg

from orchestration.wiring.resources import AwsClients, MonitoringTargets
from sensors.drift import NEW_CAPTURE_FILES_FOR_A_CHECK, drift_on_new_traffic, retrain_on_critical_drift


def test_only_critical_drift_requests_retraining():
    from orchestration.definitions import defs

    cursor, keys = None, []
    with dg.instance_for_test() as instance:
        # The second CRITICAL report of the day (say the new-traffic sensor's, after the schedule's)
        # asks with the same run key, so Dagster starts one retraining for the day, not two.
        for level, retrains in (("WARNING", False), ("CRITICAL", True), ("CRITICAL", True)):
            instance.report_runless_asset_event(
                dg.AssetMaterialization("drift_report", partition="2026-11-25", metadata={"level": level})
            )
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
            # An asset sensor yields what it decides for each new materialization after its cursor.
            outcomes = list(retrain_on_critical_drift(context))
            cursor = context.cursor
            requests = [outcome for outcome in outcomes if isinstance(outcome, dg.RunRequest)]
            assert bool(requests) == retrains, (level, outcomes)
            keys += [request.run_key for request in requests]
    assert keys == ["retrain:2026-11-25", "retrain:2026-11-25"]
    assert requests[0].tags["rtinfer/reason"] == "critical drift on 2026-11-25"
    assert requests[0].tags["rtinfer/sensor"] == "retrain_on_critical_drift"


def _tick(emulator, monkeypatch, cursor):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(emulator.home))
    targets = MonitoringTargets(endpoint_name="drift-sensor")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"aws": AwsClients(), "targets": targets}
        )
        return drift_on_new_traffic(context), context.cursor


def test_drift_check_runs_once_enough_new_inputs_are_captured_today(emulator, monkeypatch):
    s3, bucket = emulator.client("s3"), emulator.settings.bucket
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    today = datetime.now(tz=UTC)
    day_path = today.strftime("%Y/%m/%d")

    def capture(n: int, start: int, variant: str = "production", path: str = day_path) -> None:
        for i in range(start, start + n):
            key = f"datacapture/drift-sensor/{variant}/{path}/12/capture-{i:04d}.jsonl"
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")

    capture(NEW_CAPTURE_FILES_FOR_A_CHECK - 1, 0)
    capture(30, 100, variant="candidate")  # the shadow's captures are not production traffic
    capture(30, 200, path="2020/01/01")  # nor are another day's
    skipped, cursor = _tick(emulator, monkeypatch, None)
    assert skipped.skip_message == (
        f"{NEW_CAPTURE_FILES_FOR_A_CHECK - 1} new capture files today; "
        f"waiting for {NEW_CAPTURE_FILES_FOR_A_CHECK}"
    )

    capture(1, NEW_CAPTURE_FILES_FOR_A_CHECK - 1)
    request, cursor = _tick(emulator, monkeypatch, cursor)
    today_iso = today.date().isoformat()
    assert request.partition_key == today_iso
    assert request.run_key == f"drift:{today_iso}:{NEW_CAPTURE_FILES_FOR_A_CHECK}"
    assert cursor == str(NEW_CAPTURE_FILES_FOR_A_CHECK)

    again, _ = _tick(emulator, monkeypatch, cursor)  # the files already checked do not count again
    assert again.skip_message.startswith("0 new capture files today")
