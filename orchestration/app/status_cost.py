"""The cost section of `rtinfer status`: current traffic's cost per component and the what-ifs."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from orchestration.aws import aws_client
from orchestration.monitoring.cost_report import cost_report, report_frame
from orchestration.monitoring.prices import PriceTableError, load_price_table
from orchestration.monitoring.usage import Window, read_stack_usage
from orchestration.stream.stack import StreamStackSpec

COST_WINDOW_MINUTES = 15


def _money(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.4f}" if value < 100 else f"{value:,.0f}"


def print_cost(console: Console, spec: StreamStackSpec, minutes: int = COST_WINDOW_MINUTES) -> None:
    usage = read_stack_usage(
        *(aws_client(s) for s in ("cloudwatch", "sagemaker", "lambda", "kinesis")),
        spec,
        Window.last(minutes * 60),
    )
    try:
        prices = load_price_table()
        frame = report_frame(cost_report(usage, prices))
    except PriceTableError as exc:  # the rest of the status still shows; this says what to fix
        console.print(f"[bold]Cost[/bold]: cannot be priced: {exc}")
        return
    money = [column for column in frame.columns if column.startswith("$")]
    table = Table(
        title=f"Cost, last {minutes} minutes ({usage.predictions:,.0f} predictions; "
        f"{prices.region} prices of {prices.taken_on})",
        min_width=64,
    )
    table.add_column("component")
    for column in money:
        table.add_column(column, justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *(_money(row[column]) for column in money))
    console.print(table)
