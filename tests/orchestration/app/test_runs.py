"""Sensor ticks driven outside the daemon (the demo's) join the sensor's tick history as the UI reads it:
the history is queried here through Dagster's GraphQL API over the project's real workspace.yaml."""

import io
from pathlib import Path

import dagster as dg
from rich.console import Console

from orchestration.app.runs import (
    CODE_LOCATION,
    REPOSITORY,
    SensorTick,
    record_tick,
    run_job_with_progress,
    tick_sensor,
)

WORKSPACE = str(Path(__file__).parents[3] / "workspace.yaml")

SENSOR_TICKS = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 10) { status skipReason runIds runKeys } } }
  }
}
"""


def _ticks_in_ui(instance: dg.DagsterInstance, sensor_name: str) -> list[dict]:
    # imported here: its 1.6 s of imports would otherwise be paid by every worker that collects this file
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    selector = {
        "repositoryLocationName": CODE_LOCATION,
        "repositoryName": REPOSITORY,
        "sensorName": sensor_name,
    }
    with define_out_of_process_context(WORKSPACE, None, instance) as context:
        result = execute_dagster_graphql(context, SENSOR_TICKS, {"selector": selector})
    sensor = result.data["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    return sensor["sensorState"]["ticks"]


def test_demo_ticks_show_in_the_sensors_tick_history(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        skipped, _ = tick_sensor("retrain_on_critical_drift", instance, Console(file=None, quiet=True))
        launched = SensorTick("retrain_on_critical_drift", None, [], runs={"train_candidate": "a-run-id"})
        record_tick(instance, launched, ["retrain:2026-12-01"], started=1.0, cursor=None)

        ticks = _ticks_in_ui(instance, "retrain_on_critical_drift")

    assert skipped.skip_reason and not skipped.runs
    by_status = {tick["status"]: tick for tick in ticks}
    assert by_status.keys() == {"SKIPPED", "SUCCESS"}
    assert by_status["SKIPPED"]["skipReason"] == skipped.skip_reason
    assert by_status["SUCCESS"]["runIds"] == ["a-run-id"]
    assert by_status["SUCCESS"]["runKeys"] == ["retrain:2026-12-01"]


@dg.op
def _first() -> int:
    return 1


@dg.op
def _broken(value: int) -> int:
    raise ValueError(f"refused {value}")


@dg.job
def _second_step_fails():
    _broken(_first())


def test_progress_marks_each_step_done_or_failed_as_the_run_stores_its_events():
    out = io.StringIO()
    with dg.instance_for_test() as instance:
        result = run_job_with_progress(
            _second_step_fails, instance, {}, Console(file=out, width=120, force_terminal=False)
        )
    shown = out.getvalue()
    assert not result.success and result.output_for_node("_first") == 1
    assert "✓ _second_step_fails › _first" in shown and "✗ _second_step_fails › _broken" in shown, shown
