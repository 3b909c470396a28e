"""`rtinfer`: the product's command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestration.app.signals import children_start_with_default_signals
from orchestration.endpoint.names import ENDPOINT_NAME
from orchestration.settings import load_settings

console = Console()
LOCAL_TIME_SCALE = "0.02"


def _dagster_instance():
    import dagster as dg

    from orchestration.wiring.instance_config import ensure_instance_config, ensure_log_bucket

    ensure_instance_config()
    ensure_log_bucket()  # compute logs are uploaded there when each run ends
    return dg.DagsterInstance.get()


def _ensure_emulator() -> None:
    """Locally, the emulator must be up before anything calls AWS; on AWS there is nothing to start."""
    from emulator import control

    settings = load_settings()
    if not settings.is_local:
        return
    state = control.status(settings.home, settings.emulator_port)
    if state["running"]:
        return
    if state["answering"]:
        raise click.ClickException(
            f"port {settings.emulator_port} answers as an emulator of another state folder; "
            "stop it or set RTINFER_EMULATOR_PORT"
        )
    # Locally, SageMaker's baking and alarm periods pass 50x faster unless told otherwise.
    os.environ.setdefault("RTINFER_TIME_SCALE", LOCAL_TIME_SCALE)
    with console.status(f"starting the emulator on 127.0.0.1:{settings.emulator_port}"):
        pid = control.start(settings.emulator_port, settings.home)
    console.print(f"emulator started (pid {pid}, port {settings.emulator_port}, state {settings.home})")


@click.group()
def main() -> None:
    """rtinfer: real-time inference on Kinesis -> Lambda -> SageMaker, with a Dagster model lifecycle."""
    children_start_with_default_signals()


@main.command()
@click.option("--seed", default=7, show_default=True, help="Simulator seed.")
@click.option("--customers", default=None, type=int, help="Number of simulated customers.")
@click.option("--days", default=None, type=int, help="Number of simulated days.")
@click.option("--rate", default=500.0, show_default=True, help="Records per second streamed.")
@click.option("--duration", default=6.0, show_default=True, help="Seconds of streamed traffic (per replay).")
def demo(seed: int, customers: int | None, days: int | None, rate: float, duration: float) -> None:
    """Run the lifecycle end to end on the local default and print a summary."""
    from orchestration.app.demo import run_demo

    simulation = {"seed": seed}
    if customers is not None:
        simulation["n_customers"] = customers
    if days is not None:
        simulation["n_days"] = days
    traffic = {"rate": rate, "duration_s": duration, "malformed_share": 0.01}
    _ensure_emulator()
    ok = run_demo(_dagster_instance(), console, simulation, traffic)
    _say_what_keeps_running()
    raise SystemExit(0 if ok else 1)


def _say_what_keeps_running() -> None:
    """The demo leaves the emulator up (the UI and `rtinfer status` read it): say where and how to stop it."""
    settings = load_settings()
    if not settings.is_local:
        return
    # `emulator stop` finds the emulator by its state folder: name it unless it is the default one here.
    home = "" if settings.home == Path(".rtinfer").resolve() else f"RTINFER_HOME={settings.home} "
    console.print(
        f"The emulator keeps running on 127.0.0.1:{settings.emulator_port}, state in {settings.home}; "
        f"stop it with `{home}{_rtinfer_command()} emulator stop`.",
        soft_wrap=True,  # one line: the command stays copyable
    )


def _rtinfer_command() -> str:
    """This console script as the user can type it from here (e.g. `.venv/bin/rtinfer`)."""
    script = os.path.relpath(sys.argv[0])
    return script if not script.startswith("..") else sys.argv[0]


@main.command()
@click.option("--rate", default=500.0, show_default=True, help="Records per second.")
@click.option("--duration", default=10.0, show_default=True, help="Seconds of traffic.")
@click.option(
    "--malformed-share", default=0.0, show_default=True, help="Share of records sent broken on purpose."
)
@click.option("--start-day", default=42, show_default=True, help="Simulated day the replay starts at.")
def traffic(rate: float, duration: float, malformed_share: float, start_day: int) -> None:
    """Replay simulated transactions into the input stream (after `rtinfer demo` has built the stack)."""
    from jobs.ops import REPLAY_OP, op_config
    from orchestration.app.demo import stream_figures, stream_table
    from orchestration.app.runs import run_job

    _ensure_emulator()
    config = {
        "rate": rate,
        "duration_s": duration,
        "malformed_share": malformed_share,
        "start_day": start_day,
    }
    result = run_job("replay_traffic", _dagster_instance(), console, op_config(REPLAY_OP, config))
    if result is None:
        raise SystemExit(1)
    console.print(stream_table(stream_figures(result.output_for_node(REPLAY_OP))))


@main.command()
@click.option("--endpoint", default=ENDPOINT_NAME, show_default=True)
def status(endpoint: str) -> None:
    """Endpoint, registry, stream accounting, health and drift at a glance."""
    from orchestration.app.status import print_status

    _ensure_emulator()
    print_status(console, endpoint, _dagster_instance())


@main.group()
def endpoint() -> None:
    """Change the endpoint: the same Dagster jobs the UI launches, run here with progress."""


def _endpoint_job(job: str, op: str, config: dict) -> None:
    from jobs.ops import op_config
    from orchestration.app.runs import run_job

    _ensure_emulator()
    result = run_job(job, _dagster_instance(), console, op_config(op, config))
    if result is None:
        raise SystemExit(1)
    console.print_json(data=result.output_for_node(op))


@endpoint.command("deploy")
@click.option(
    "--version", "model_version", default="", help="Registered model version (default: newest Approved)."
)
@click.option(
    "--strategy", type=click.Choice(["ALL_AT_ONCE", "CANARY", "LINEAR"]), default="CANARY", show_default=True
)
@click.option("--canary-percent", default=10, show_default=True)
@click.option("--linear-step-percent", default=25, show_default=True)
@click.option(
    "--wait-interval", default=300, show_default=True, help="Baking seconds between traffic shifts."
)
def endpoint_deploy(model_version, strategy, canary_percent, linear_step_percent, wait_interval) -> None:
    """Blue/green deployment with alarm-driven auto-rollback."""
    from jobs import ops

    _endpoint_job(
        "deploy_model",
        ops.DEPLOY_OP,
        {
            "model_version": model_version,
            "strategy": strategy,
            "canary_percent": canary_percent,
            "linear_step_percent": linear_step_percent,
            "wait_interval_s": wait_interval,
        },
    )


@endpoint.command("shadow")
@click.option("--version", "model_version", default="")
@click.option("--sampling-share", default=1.0, show_default=True)
def endpoint_shadow(model_version, sampling_share) -> None:
    """Run a registered version as a shadow variant."""
    from jobs import ops

    _endpoint_job(
        "shadow_model", ops.SHADOW_OP, {"model_version": model_version, "sampling_share": sampling_share}
    )


@endpoint.command("split")
@click.option("--version", "model_version", default="")
@click.option("--candidate-weight", default=0.1, show_default=True)
def endpoint_split(model_version, candidate_weight) -> None:
    """A/B: serve a registered version beside production with this share of traffic."""
    from jobs import ops

    _endpoint_job(
        "set_traffic", ops.SPLIT_OP, {"model_version": model_version, "candidate_weight": candidate_weight}
    )


@endpoint.command("promote")
@click.option(
    "--strategy", type=click.Choice(["ALL_AT_ONCE", "CANARY", "LINEAR"]), default="CANARY", show_default=True
)
def endpoint_promote(strategy) -> None:
    """Make the current candidate the production variant."""
    from jobs import ops

    _endpoint_job("promote", ops.PROMOTE_OP, {"strategy": strategy})


@endpoint.command("rollback")
def endpoint_rollback() -> None:
    """Drop the candidate, or go back to the previous production version."""
    from jobs import ops

    _endpoint_job("rollback", ops.ROLLBACK_OP, {})


@endpoint.command("approve")
@click.argument("model_version")
@click.option("--reject", is_flag=True, help="Reject instead of approve.")
@click.option("--note", default="reviewed", show_default=True)
def endpoint_approve(model_version, reject, note) -> None:
    """Approve (or reject) a registered model version."""
    from jobs import ops

    decision = "Rejected" if reject else "Approved"
    _endpoint_job(
        "approve_model_version",
        ops.APPROVE_OP,
        {"model_version": model_version, "decision": decision, "note": note},
    )


@main.group()
def package() -> None:
    """Build deployment packages."""


@package.command("lambda")
@click.option("--out", default="dist/consumer.zip", show_default=True, type=click.Path(dir_okay=False))
def package_lambda(out: str) -> None:
    """Zip the consumer, the shared features and their pure-Python dependencies."""

    from orchestration.stream.packaging import HANDLER, build_lambda_zip

    path = build_lambda_zip(Path(out))
    console.print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, handler {HANDLER}")


@main.group()
def emulator() -> None:
    """The local AWS emulator (S3, SageMaker, ...) on 127.0.0.1."""


@emulator.command("start")
def emulator_start() -> None:
    """Start the emulator in the background (no-op if it is already running)."""
    _ensure_emulator()
    console.print("emulator is running")


@emulator.command("stop")
def emulator_stop() -> None:
    """Stop the emulator and its model workers."""
    from emulator import control

    stopped = control.stop(load_settings().home)
    console.print("emulator stopped" if stopped else "no emulator was running for this state folder")


@emulator.command("status")
def emulator_status() -> None:
    """Show whether the emulator runs, where, and where it logs."""
    from emulator import control

    settings = load_settings()
    state = control.status(settings.home, settings.emulator_port)
    table = Table(show_header=False)
    for key, value in state.items():
        table.add_row(key, str(value))
    console.print(table)
    raise SystemExit(0 if state["running"] else 3)


if __name__ == "__main__":
    main()
