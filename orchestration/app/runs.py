"""Run a job of the code location in process and show its steps as they start and finish (rich progress),
and tick a sensor of the code location through the instance, launching what it asks for."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import dagster as dg
from dagster import DagsterEventType
from dagster._core.definitions.selector import InstigatorSelector
from dagster._core.scheduler.instigation import InstigatorType, TickData, TickStatus
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

_STEP_EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_job_with_progress(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    run_config: dict,
    console: Console,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    run_id = str(uuid.uuid4())
    outcome: dict = {}

    def execute() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config={**run_config, **QUIET_LOGGERS},
                instance=instance,
                run_id=run_id,
                tags=tags,
                raise_on_error=False,
            )
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=execute, name=f"run-{job.name}")
    worker.start()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, int] = {}
        cursor = None
        while True:
            alive = worker.is_alive()
            if instance.get_run_by_id(run_id) is not None:
                connection = instance.get_records_for_run(run_id, cursor=cursor, of_type=_STEP_EVENTS)
                cursor = connection.cursor
                for record in connection.records:
                    event = record.event_log_entry.dagster_event
                    step = event.step_key
                    if event.event_type == DagsterEventType.STEP_START:
                        tasks[step] = progress.add_task(f"{job.name} › {step}", total=1)
                    elif step in tasks:
                        mark = "[green]✓" if event.event_type == DagsterEventType.STEP_SUCCESS else "[red]✗"
                        progress.update(tasks[step], completed=1, description=f"{mark} {job.name} › {step}")
            if not alive:
                break
            time.sleep(0.2)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def run_job(
    job_name: str,
    instance: dg.DagsterInstance,
    console: Console,
    run_config: dict,
    tags: dict[str, str] | None = None,
):
    """Run a job of the code location with progress; None (and a pointer to the logs) if it failed."""
    from orchestration.definitions import defs

    result = run_job_with_progress(defs.resolve_job_def(job_name), instance, run_config, console, tags)
    if not result.success:
        console.print(
            f"[red]run {result.run_id} of {job_name} failed; see `make dev` → Runs for the step logs"
        )
        return None
    return result


# The tags by which Dagster shows a run as launched by a sensor (and dedupes its run keys).
SENSOR_NAME_TAG = "dagster/sensor_name"
RUN_KEY_TAG = "dagster/run_key"


@dataclass
class SensorTick:
    """What one tick of a sensor decided, and the runs it launched (None: that run failed)."""

    sensor: str
    skip_reason: str | None
    observations: list[dg.AssetObservation]
    runs: dict[str, str | None] = field(default_factory=dict)  # job name -> run id


def tick_sensor(sensor_name: str, instance: dg.DagsterInstance, console: Console, cursor: str | None = None):
    """Evaluate a sensor of the code location as the daemon does, through the instance: its asset
    events are recorded there, each run it requests runs with the sensor's tags (so the UI shows it as
    launched by that sensor, with the reason the sensor gave), and the tick joins the sensor's tick
    history. Returns (tick, new cursor)."""
    from orchestration.definitions import defs

    started = time.time()
    sensor = defs.resolve_sensor_def(sensor_name)
    # a context manager: resources that hold others (the S3 IO manager over dagster-aws's S3 resource)
    # are opened for the evaluation and closed after it
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, sensor_name=sensor_name, resources=defs.resources, definitions=defs
    ) as context:
        requests, observations, skip = _outcomes(sensor(context))
    for event in observations:
        instance.report_runless_asset_event(event)
    tick = SensorTick(sensor_name, skip, observations)
    for request in requests:
        tags = {**request.tags, SENSOR_NAME_TAG: sensor_name, RUN_KEY_TAG: request.run_key or ""}
        job_name = request.job_name or sensor.job_name  # a sensor with one job may leave it unnamed
        ran = run_job(job_name, instance, console, request.run_config or {}, tags)
        tick.runs[job_name] = ran.run_id if ran is not None else None
    record_tick(instance, tick, [request.run_key or "" for request in requests], started, context.cursor)
    return tick, context.cursor


# The code location's name in the UI (workspace.yaml loads this module), and Dagster's name for
# the one repository of a Definitions object: together they select a sensor's tick history.
CODE_LOCATION = "orchestration.definitions"
REPOSITORY = "__repository__"


def sensor_selector_id(sensor_name: str) -> str:
    return InstigatorSelector(
        location_name=CODE_LOCATION, repository_name=REPOSITORY, name=sensor_name
    ).get_id()


def record_tick(
    instance: dg.DagsterInstance, tick: SensorTick, run_keys: list[str], started: float, cursor: str | None
) -> None:
    """Write the tick to the sensor's tick history as the daemon would: launched runs, or why it skipped."""
    launched = [run_id for run_id in tick.runs.values() if run_id is not None]
    selector_id = sensor_selector_id(tick.sensor)
    instance.create_tick(
        TickData(
            instigator_origin_id=selector_id,  # the history is looked up by selector first
            instigator_name=tick.sensor,
            instigator_type=InstigatorType.SENSOR,
            status=TickStatus.SUCCESS if tick.runs else TickStatus.SKIPPED,
            timestamp=started,
            end_timestamp=time.time(),
            run_ids=launched,
            run_keys=[key for key in run_keys if key],
            skip_reason=None if tick.runs else tick.skip_reason,
            cursor=cursor,
            selector_id=selector_id,
        )
    )


def _outcomes(result) -> tuple[list[dg.RunRequest], list[dg.AssetObservation], str | None]:
    """(run requests, asset events, skip reason) of whatever a sensor returned or yielded."""
    if isinstance(result, dg.SensorResult):
        skip = result.skip_reason.skip_message if result.skip_reason else None
        return list(result.run_requests or []), list(result.asset_events or []), skip
    items = [result] if isinstance(result, dg.RunRequest | dg.SkipReason) else list(result or [])
    requests = [item for item in items if isinstance(item, dg.RunRequest)]
    skips = [item.skip_message for item in items if isinstance(item, dg.SkipReason)]
    return requests, [], "; ".join(skips) or None
