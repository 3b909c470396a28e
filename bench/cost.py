"""What a prediction costs, as a table: the stream path next to a baseline pattern (the one-at-a-time
producer, Lambda BatchSize 1, one InvokeEndpoint and one audit PutItem per record), both from their
counted usage, and the ratio.

The stream bench calls `print_comparison` with the two Usages it read (orchestration.monitoring.usage
.read_usage over each pattern's own resources, with the predictions it made). `python -m bench.cost
[minutes]` prints the deployed stack's own cost of the last minutes (default 15) and the what-ifs.
"""

from __future__ import annotations

import math
import sys

import pandas as pd
from rich.console import Console
from rich.table import Table

from orchestration.monitoring.cost import Usage, cost
from orchestration.monitoring.cost_report import comparison_frame, cost_report, report_frame
from orchestration.monitoring.prices import PriceTable, load_price_table

BASELINE = "one-at-a-time"


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "-"
    return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.0f}"


def _print_frame(console: Console, frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    table.add_column("component")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *(_cell(value) for value in row))
    console.print(table)


def _counted(usage: Usage) -> str:
    """How many predictions a usage prices, over which window (each pattern is priced over its own)."""
    return f"{usage.predictions:,.0f} predictions in {usage.window_s / 60:,.1f} min"


def print_comparison(
    console: Console, path: Usage, baseline: Usage, prices: PriceTable | None = None, name: str = BASELINE
) -> pd.DataFrame:
    """Both patterns' $ per million predictions per component and the ratio (baseline / path)."""
    prices = prices or load_price_table()
    frame = comparison_frame(cost(path, prices), cost(baseline, prices), name)
    _print_frame(
        console,
        frame,
        f"$ per million predictions: path ({_counted(path)}) vs {name} ({_counted(baseline)}); "
        f"{prices.region} prices of {prices.taken_on}",
    )
    return frame


def main(minutes: int = 15) -> None:
    from orchestration.aws import aws_client
    from orchestration.monitoring.usage import Window, read_stack_usage
    from orchestration.stream.stack import StreamStackSpec

    clients = (aws_client(s) for s in ("cloudwatch", "sagemaker", "lambda", "kinesis"))
    usage = read_stack_usage(*clients, StreamStackSpec(), Window.last(minutes * 60))
    prices = load_price_table()
    frame = report_frame(cost_report(usage, prices)).drop(columns=["quantity", "unit"])
    _print_frame(Console(), frame, f"Cost, last {minutes} minutes ({usage.predictions:,.0f} predictions)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:2]))
