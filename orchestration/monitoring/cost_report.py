"""The cost of current traffic and of the seed rates, as the tables and the chart people read: one
shape for `rtinfer status`, the stream_cost asset and bench/cost.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from orchestration.monitoring.charts import bar_chart
from orchestration.monitoring.cost import SEED_RATES_PER_S, CostBreakdown, Usage, cost, what_if
from orchestration.monitoring.prices import PriceTable

# Rows one instance predicts per second, for sizing instances in the what-ifs: an assumed figure, not
# a measurement. Measure it for your model and instance type (bench/invoke_latency.py times requests
# of many rows) and pass it in.
DEFAULT_ROWS_PER_INSTANCE_S = 5000.0
TOTAL = "total"


@dataclass(frozen=True)
class CostReport:
    usage: Usage
    measured: CostBreakdown
    what_ifs: dict[float, CostBreakdown]  # by target rate (predictions per second)


def cost_report(
    usage: Usage,
    prices: PriceTable,
    rows_per_instance_s: float = DEFAULT_ROWS_PER_INSTANCE_S,
    rates: tuple[float, ...] = SEED_RATES_PER_S,
) -> CostReport:
    """The measured cost and, when the window made predictions to scale from, the what-ifs."""
    what_ifs = (
        {rate: cost(what_if(usage, rate, rows_per_instance_s), prices) for rate in rates}
        if usage.predictions
        else {}
    )
    return CostReport(usage, cost(usage, prices), what_ifs)


def _column(breakdown: CostBreakdown, per: str) -> list[float]:
    amounts = [c.usd for c in breakdown.components] + [breakdown.usd]
    convert = breakdown.per_million if per == "million" else breakdown.per_month
    return [convert(usd) for usd in amounts]


def report_frame(report: CostReport) -> pd.DataFrame:
    """Per component (and the total): $ per million predictions and $ per month, measured and at
    each what-if rate."""
    measured = report.measured
    frame = pd.DataFrame(
        {
            "quantity": [c.quantity for c in measured.components] + [math.nan],
            "unit": [c.unit for c in measured.components] + [""],
            "$/M predictions": _column(measured, "million"),
            "$/month": _column(measured, "month"),
        },
        index=[c.name for c in measured.components] + [TOTAL],
    )
    for rate, breakdown in report.what_ifs.items():
        frame[f"$/M at {rate:,.0f}/s"] = _column(breakdown, "million")
        frame[f"$/month at {rate:,.0f}/s"] = _column(breakdown, "month")
    return frame


def comparison_frame(path: CostBreakdown, baseline: CostBreakdown, baseline_name: str) -> pd.DataFrame:
    """$ per million predictions per component for the path and a baseline pattern, and their ratio
    (baseline / path)."""
    ours, theirs = _column(path, "million"), _column(baseline, "million")
    return pd.DataFrame(
        {
            "path $/M": ours,
            f"{baseline_name} $/M": theirs,
            "ratio": [b / a if a else math.nan for a, b in zip(ours, theirs, strict=True)],
        },
        index=[c.name for c in path.components] + [TOTAL],
    )


def cost_chart(breakdown: CostBreakdown, title: str) -> str:
    """$ per million predictions by component, as an SVG bar chart."""
    return bar_chart(
        [c.name for c in breakdown.components],
        [breakdown.per_million(c.usd) for c in breakdown.components],
        title,
        f"$ per million predictions ({breakdown.region}, prices of {breakdown.prices_taken_on})",
    )
