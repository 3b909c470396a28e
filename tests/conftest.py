"""Fixtures shared by the whole suite."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.config import Config

from emulator import control
from orchestration.app.signals import children_start_with_default_signals
from orchestration.aws import aws_client
from orchestration.settings import Settings

# Every botocore call of the suite is checked against the service models (tests/plugins/model_guard.py).
pytest_plugins = ["model_guard"]

# The longest test files, started first: with pytest-xdist's --dist loadfile a file runs on one worker,
# and a long one that starts last is the suite's tail (the demo alone takes minutes).
# xdist hands each worker two files to begin with, in queue order: the first worker gets the 1st and
# the (workers + 1)th file. The demo is the 1st and the suite's long pole, so the file behind it must
# be a short one (SHORT_BEHIND_THE_DEMO), or it runs only after the demo and becomes the new tail.
LONGEST_FIRST = (
    "tests/e2e/test_demo.py",
    "tests/e2e/test_aws_path.py",
    "tests/orchestration/endpoint/test_lifecycle_safety.py",
    "tests/orchestration/endpoint/test_strategies.py",
    "tests/e2e/test_stream_reliability.py",
    "tests/orchestration/monitoring/test_drift.py",
    "tests/emulator/sagemaker/test_blue_green.py",
    "tests/orchestration/test_definitions.py",
    "tests/orchestration/wiring/test_postgres_instance.py",
)
SHORT_BEHIND_THE_DEMO = "tests/bench/test_cost.py"


def queue_order(paths: list[str], workers: int) -> list[str]:
    """The files in the order xdist should hand them out: LONGEST_FIRST first, with a short file in the
    slot that lands behind the demo on its worker; the other files keep their order."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    ordered = sorted(dict.fromkeys(paths), key=lambda path: rank.get(path, len(rank)))  # stable
    if workers > 1 and SHORT_BEHIND_THE_DEMO in ordered and len(ordered) > workers:
        ordered.remove(SHORT_BEHIND_THE_DEMO)
        ordered.insert(workers, SHORT_BEHIND_THE_DEMO)
    return ordered


def pytest_configure(config: pytest.Config) -> None:
    # `make test &` hands every worker SIGINT ignored; the Dagster runs the tests execute would pass
    # it on to their log capture's tails as an ignored SIGTERM, and leave them running.
    children_start_with_default_signals()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = getattr(config, "workerinput", {}).get("workercount", 0)  # set in xdist's workers only
    files = queue_order([item.nodeid.split("::")[0] for item in items], workers)
    position = {path: index for index, path in enumerate(files)}
    items.sort(key=lambda item: position[item.nodeid.split("::")[0]])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RunningEmulator:
    port: int
    home: Path
    pid: int
    settings: Settings

    def client(self, service: str, config: Config | None = None):
        """A boto3 client for `service` pointed at this emulator (via orchestration.aws)."""
        return aws_client(service, self.settings, config)


def start_emulator(home: Path, port: int | None = None) -> RunningEmulator:
    port = port or free_port()
    pid = control.start(port, home)
    return RunningEmulator(
        port, home, pid, Settings(env="local", home=home, emulator_port=port, region="us-east-1")
    )


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One real emulator process for the session, on a free port with a temporary home."""
    running = start_emulator(tmp_path_factory.mktemp("rtinfer-home"))
    yield running
    control.stop(running.home)


FAST_TIME_SCALE = "0.02"


@pytest.fixture(scope="session")
def fast_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An emulator whose AWS waits (baking, alarm periods) run 50x faster: RTINFER_TIME_SCALE=0.02."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RTINFER_TIME_SCALE", FAST_TIME_SCALE)
        running = start_emulator(tmp_path_factory.mktemp("rtinfer-fast-home"))
    yield running
    control.stop(running.home)


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., RunningEmulator]]:
    """Start extra emulators (e.g. to restart one on the same home); all are stopped at teardown."""
    homes: list[Path] = []

    def start(home: Path, port: int | None = None) -> RunningEmulator:
        homes.append(home)
        return start_emulator(home, port)

    yield start
    for home in homes:
        control.stop(home)


LIFECYCLE_SIMULATION = {"n_customers": 1200, "n_terminals": 300, "seed": 2}


@pytest.fixture
def run_lifecycle(emulator, tmp_path, monkeypatch):
    """Run the fraud_lifecycle job as Dagster runs it, small, on its own endpoint and stream stack."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.wiring.resources import default_resources

    monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))

    def run(floors, endpoint_name: str) -> dg.ExecuteInProcessResult:
        run_config = {
            "ops": {
                "simulated_transactions": {"config": LIFECYCLE_SIMULATION},
                "fraud_endpoint": {"config": {"endpoint_name": endpoint_name, "instance_count": 1}},
                "stream_stack": {
                    "config": {"input_stream": f"{endpoint_name}-in", "function_name": f"{endpoint_name}-fn"}
                },
            }
        }
        resources = {**default_resources(), "quality_floors": floors}
        job = dg.Definitions(
            assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources
        ).resolve_job_def("fraud_lifecycle")
        with dg.instance_for_test() as instance:
            return job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)

    return run


@pytest.fixture
def failed_deploy_tick():
    """Run deploy_model with `run_config` to failure, then tick the failed-run sensor on the run's real
    failure event; returns (the run's result, what the sensor returned)."""
    import dagster as dg

    from jobs.endpoint import deploy_model
    from orchestration.wiring.resources import AwsClients
    from sensors.health import failed_deployment_rollback

    def tick(run_config: dict):
        with dg.instance_for_test() as instance:
            result = deploy_model.execute_in_process(
                run_config=run_config,
                instance=instance,
                resources={"aws": AwsClients()},
                raise_on_error=False,
            )
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
            context = dg.build_run_status_sensor_context(
                sensor_name="failed_deployment_rollback",
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                dagster_event=failure,
                resources={"aws": AwsClients()},
            ).for_run_failure()
            return result, failed_deployment_rollback(context)

    return tick


@pytest.fixture
def store_audit_rows():
    """`store_audit_rows(s3, bucket, rows, per_object=50)`: write prediction rows (each with at least
    shard_id, sequence_number and arrival_ms) as the consumer writes them, `per_object` to a batch
    object per chunk; returns the keys."""
    from serving.consumer.audit import audit_key, write_batch
    from serving.consumer.decode import StreamPosition

    def store(s3, bucket: str, rows: list[dict], per_object: int = 50) -> list[str]:
        keys = []
        for start in range(0, len(rows), per_object):
            chunk = rows[start : start + per_object]
            head = chunk[0]
            first = StreamPosition(head["sequence_number"], "pk", head["shard_id"], "arn", head["arrival_ms"])
            assert write_batch(s3, bucket, first, chunk)
            keys.append(audit_key(first, chunk[-1]["sequence_number"], len(chunk)))
        return keys

    return store
