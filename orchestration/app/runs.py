"""Run a job of the code location in process and show its steps as they start and finish (rich progress)."""

from __future__ import annotations

import threading
import time
import uuid

import dagster as dg
from dagster import DagsterEventType
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

_STEP_EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_job_with_progress(
    job: dg.JobDefinition, instance: dg.DagsterInstance, run_config: dict, console: Console
) -> dg.ExecuteInProcessResult:
    run_id = str(uuid.uuid4())
    outcome: dict = {}

    def execute() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config={**run_config, **QUIET_LOGGERS},
                instance=instance,
                run_id=run_id,
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


def run_job(job_name: str, instance: dg.DagsterInstance, console: Console, run_config: dict):
    """Run a job of the code location with progress; None (and a pointer to the logs) if it failed."""
    from orchestration.definitions import defs

    result = run_job_with_progress(defs.resolve_job_def(job_name), instance, run_config, console)
    if not result.success:
        console.print(
            f"[red]run {result.run_id} of {job_name} failed; see `make dev` → Runs for the step logs"
        )
        return None
    return result
