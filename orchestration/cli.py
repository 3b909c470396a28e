"""`rtinfer`: the product's command line."""

from __future__ import annotations

import os

import click
from rich.console import Console

console = Console()


def _dagster_instance():
    import dagster as dg

    from orchestration.settings import load_settings

    home = os.environ.setdefault("DAGSTER_HOME", str(load_settings().home / "dagster"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):
        open(config, "a").close()  # an empty instance config: all storage under DAGSTER_HOME
    return dg.DagsterInstance.get()


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
    ok = run_demo(_dagster_instance(), console, simulation)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
