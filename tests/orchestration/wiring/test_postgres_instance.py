"""Dagster on a real PostgreSQL server (started by the `postgres` fixture) through dagster-postgres.

The local option (RTINFER_DAGSTER_STORAGE=postgres) runs a product job, a product sensor tick and a
schedule tick, and a fresh instance reads the run, its events and the ticks back; the production
instance config (infra/dagster/dagster.yaml) loads for real against the same server, with its ECS run
launcher and its S3 compute logs pointed at the emulator through AWS_ENDPOINT_URL.
"""

import importlib
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.scheduler.instigation import InstigatorType, TickData, TickStatus
from dagster._core.storage.dagster_run import RunsFilter
from rich.console import Console

from orchestration.app.runs import sensor_selector_id, tick_sensor
from orchestration.wiring.instance_config import COMPUTE_LOG_PREFIX, instance_config
from orchestration.wiring.resources import default_resources

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_CONFIG = ROOT / "infra" / "dagster" / "dagster.yaml"
TINY = {"n_customers": 20, "n_terminals": 10, "n_days": 3, "seed": 1}


@dg.op
def hello() -> int:
    return 1


@dg.job
def tiny_job():
    hello()


@dg.schedule(cron_schedule="*/5 * * * *", job=tiny_job)
def tiny_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())


def _runs_table_count(url: str) -> int:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from runs")
        return cursor.fetchone()[0]


@pytest.fixture
def local_env(emulator, postgres, tmp_path, monkeypatch):
    for name, value in {
        "RTINFER_ENV": "local",
        "RTINFER_HOME": str(tmp_path),
        "RTINFER_EMULATOR_PORT": str(emulator.port),
        "RTINFER_DAGSTER_PG_URL": postgres.url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(emulator.settings, home, "postgres")))
    return home


def test_a_job_a_sensor_tick_and_a_schedule_tick_are_kept_in_postgres(local_env, emulator, postgres):
    console = Console(quiet=True)
    with dg.DagsterInstance.from_config(str(local_env)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # a product job, with the product's resources (asset values in the emulator's S3)
        from orchestration.definitions import defs

        simulate = dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=default_resources())
        run = simulate.resolve_job_def("simulate").execute_in_process(
            run_config={"ops": {"simulated_transactions": {"config": TINY}}}, instance=instance
        )
        assert run.success
        # a product sensor, ticked as the demo ticks it: no captures, so a skip with its reason
        tick, _ = tick_sensor("drift_on_new_traffic", instance, console)
        assert tick.skip_reason and not tick.runs
        # a schedule tick: evaluated by Dagster at its time, its run launched and the tick recorded
        at = datetime(2026, 11, 25, 0, 5, tzinfo=UTC)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
        [request] = tiny_schedule.evaluate_tick(context).run_requests
        tags = {**request.tags, "dagster/schedule_name": "tiny_schedule", "dagster/run_key": request.run_key}
        scheduled = tiny_job.execute_in_process(instance=instance, tags=tags)
        instance.create_tick(
            TickData(
                instigator_origin_id="tiny_schedule",
                instigator_name="tiny_schedule",
                instigator_type=InstigatorType.SCHEDULE,
                status=TickStatus.SUCCESS,
                timestamp=at.timestamp(),
                end_timestamp=time.time(),
                run_ids=[scheduled.run_id],
                run_keys=[request.run_key],
                selector_id="tiny_schedule",
            )
        )
    # a fresh instance (new connections) reads everything back from the server
    with dg.DagsterInstance.from_config(str(local_env)) as fresh:
        stored = fresh.get_run_by_id(run.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
        assert stored.job_name == "simulate"
        materialized = fresh.fetch_materializations(dg.AssetKey("transactions"), limit=1).records
        assert materialized[0].run_id == run.run_id
        [sensor_tick] = fresh.get_ticks("drift_on_new_traffic", sensor_selector_id("drift_on_new_traffic"))
        assert sensor_tick.status == TickStatus.SKIPPED and sensor_tick.skip_reason == tick.skip_reason
        [schedule_tick] = fresh.get_ticks("tiny_schedule", "tiny_schedule")
        assert schedule_tick.run_ids == [scheduled.run_id]
        [by_schedule] = fresh.get_runs(RunsFilter(tags={"dagster/schedule_name": "tiny_schedule"}))
        assert by_schedule.run_id == scheduled.run_id and by_schedule.status == dg.DagsterRunStatus.SUCCESS
    assert _runs_table_count(postgres.libpq_url) >= 2  # the rows are in PostgreSQL, not in a file
    # each run's stdout/stderr went to S3 through dagster-aws's compute log manager
    listed = emulator.client("s3").list_objects_v2(
        Bucket=emulator.settings.bucket, Prefix=f"{COMPUTE_LOG_PREFIX}/storage/{run.run_id}/"
    )
    assert listed.get("KeyCount", 0) >= 1, listed


PRODUCTION_ENV = {
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_DB": "postgres",
    "DAGSTER_PG_USERNAME": "postgres",
    "DAGSTER_PG_PASSWORD": "",
    "RTINFER_BUCKET": "rtinfer-prod-logs",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",  # both are set in an ECS task; boto3 reads this one
}


def _production_home(tmp_path: Path) -> Path:
    home = tmp_path / "prod"
    home.mkdir()
    (home / "dagster.yaml").write_text(PRODUCTION_CONFIG.read_text())
    return home


def _class_config_errors(config: dict) -> list[str]:
    """Every pluggable class section validated against its class's own config schema."""
    from dagster._config import process_config

    errors = []
    for section, value in config.items():
        if isinstance(value, dict) and {"module", "class"} <= set(value):
            cls = getattr(importlib.import_module(value["module"]), value["class"])  # as Dagster loads it
            result = process_config(cls.config_type(), value.get("config", {}))
            errors += [f"{section}: {error.message}" for error in result.errors or []]
    return errors


def test_the_production_config_passes_dagsters_instance_schema(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    for name, value in {**PRODUCTION_ENV, "DAGSTER_PG_PORT": "5432"}.items():
        monkeypatch.setenv(name, value)
    config, custom_class = dagster_instance_config(str(_production_home(tmp_path)))
    assert custom_class is None
    assert set(config["storage"]) == {"postgres"}
    assert config["run_launcher"]["class"] == "EcsRunLauncher"
    assert config["compute_logs"]["module"] == "dagster_aws.s3.compute_log_manager"
    assert _class_config_errors(config) == []
    # the check can fail: a misspelt option is caught
    broken = yaml.safe_load(PRODUCTION_CONFIG.read_text())
    broken["compute_logs"]["config"]["buckt"] = broken["compute_logs"]["config"].pop("bucket")
    assert any("compute_logs" in error for error in _class_config_errors(broken))


def test_the_production_config_loads_against_a_real_server(postgres, emulator, tmp_path, monkeypatch):
    for name, value in {**PRODUCTION_ENV, "DAGSTER_PG_PORT": str(postgres.port)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.settings.emulator_url)  # S3 = the emulator
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3 = emulator.client("s3")
    s3.create_bucket(
        Bucket="rtinfer-prod-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with dg.DagsterInstance.from_config(str(_production_home(tmp_path))) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_launcher).__name__ == "EcsRunLauncher"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = tiny_job.execute_in_process(instance=instance)
        assert result.success and instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    listed = s3.list_objects_v2(
        Bucket="rtinfer-prod-logs", Prefix=f"dagster/compute-logs/storage/{result.run_id}/"
    )
    assert listed.get("KeyCount", 0) >= 1, listed
