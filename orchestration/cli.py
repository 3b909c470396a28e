"""`rtinfer`: the product's command line."""

from __future__ import annotations

import os

import click
from rich.console import Console
from rich.table import Table

from orchestration.settings import load_settings

console = Console()


def _dagster_instance():
    import dagster as dg

    home = os.environ.setdefault("DAGSTER_HOME", str(load_settings().home / "dagster"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):
        open(config, "a").close()  # an empty instance config: all storage under DAGSTER_HOME
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
    with console.status(f"starting the emulator on 127.0.0.1:{settings.emulator_port}"):
        pid = control.start(settings.emulator_port, settings.home)
    console.print(f"emulator started (pid {pid}, port {settings.emulator_port}, state {settings.home})")


@click.group()
def main() -> None:
    """rtinfer: real-time inference on Kinesis -> Lambda -> SageMaker, with a Dagster model lifecycle."""


@main.command()
@click.option("--seed", default=7, show_default=True, help="Simulator seed.")
@click.option("--customers", default=None, type=int, help="Number of simulated customers.")
@click.option("--days", default=None, type=int, help="Number of simulated days.")
def demo(seed: int, customers: int | None, days: int | None) -> None:
    """Run the lifecycle end to end on the local default and print a summary."""
    from orchestration.demo import run_demo

    simulation = {"seed": seed}
    if customers is not None:
        simulation["n_customers"] = customers
    if days is not None:
        simulation["n_days"] = days
    _ensure_emulator()
    ok = run_demo(_dagster_instance(), console, simulation)
    raise SystemExit(0 if ok else 1)


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
