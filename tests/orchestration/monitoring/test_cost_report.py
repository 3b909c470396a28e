"""The cost tables and chart: one row per component and the total, the what-if columns, the ratio of a
baseline to the path."""

from __future__ import annotations

import base64
import math

import pytest

from orchestration.monitoring.cost import StreamUsage, Usage, VariantUsage, cost
from orchestration.monitoring.cost_report import (
    TOTAL,
    comparison_frame,
    cost_chart,
    cost_report,
    report_frame,
)
from orchestration.monitoring.prices import DEFAULT_PRICE_TABLE, load_price_table

PRICES = load_price_table(DEFAULT_PRICE_TABLE)


def usage(predictions: float = 60_000.0, per_prediction_calls: float = 0.01) -> Usage:
    """A minute of traffic; `per_prediction_calls` Lambda calls, reads and writes per prediction."""
    calls = predictions * per_prediction_calls
    return Usage(
        window_s=60.0,
        predictions=predictions,
        streams=(
            StreamUsage("in", 1, predictions, predictions * 300),
            StreamUsage("out", 1, calls, calls * 20_000),
        ),
        variants=(VariantUsage("production", "ml.c5.large", 1, 1.0),),
        function_memory_mb=512,
        function_architecture="arm64",
        lambda_requests=calls,
        lambda_duration_ms=calls * 50,
        dynamodb_read_units=calls,
        dynamodb_write_units=predictions,
        s3_put_requests=calls,
        s3_get_requests=0.0,
        s3_stored_bytes=1e9,
        sqs_requests=0.0,
        cloudwatch_metrics=6,
        log_bytes=calls * 400,
    )


def test_the_report_has_every_component_the_total_and_the_seed_rates():
    frame = report_frame(cost_report(usage(), PRICES, rows_per_instance_s=5000))
    breakdown = cost(usage(), PRICES)
    assert list(frame.index) == [c.name for c in breakdown.components] + [TOTAL]
    assert frame.loc[TOTAL, "$/M predictions"] == pytest.approx(breakdown.per_million(breakdown.usd))
    assert frame.loc[TOTAL, "$/month"] == pytest.approx(breakdown.per_month(breakdown.usd))
    assert list(frame.columns[4:]) == [
        "$/M at 50,000/s",
        "$/month at 50,000/s",
        "$/M at 1,000/s",
        "$/month at 1,000/s",
    ]
    # DynamoDB writes scale with the traffic: the same per prediction at every rate
    writes = frame.loc["DynamoDB writes"]
    assert writes["$/M at 50,000/s"] == pytest.approx(writes["$/M predictions"])
    # the endpoint's instances are sized for the rate: 10 at 50,000/s, 1 at 1,000/s
    instances = frame.loc["SageMaker instances"]
    assert instances["$/month at 50,000/s"] == pytest.approx(10 * instances["$/month at 1,000/s"])


def test_without_predictions_there_is_no_what_if():
    frame = report_frame(cost_report(usage(predictions=0.0), PRICES))
    assert list(frame.columns) == ["quantity", "unit", "$/M predictions", "$/month"]
    assert math.isnan(frame.loc[TOTAL, "$/M predictions"])


def test_the_comparison_is_the_baseline_over_the_path():
    path, baseline = cost(usage(), PRICES), cost(usage(per_prediction_calls=1.0), PRICES)
    frame = comparison_frame(path, baseline, "one-at-a-time")
    assert frame.loc["Lambda requests", "ratio"] == pytest.approx(100)
    assert frame.loc["DynamoDB writes", "ratio"] == pytest.approx(1)
    assert frame.loc[TOTAL, "ratio"] == pytest.approx(
        baseline.per_million(baseline.usd) / path.per_million(path.usd)
    )
    assert math.isnan(frame.loc["SQS requests", "ratio"])  # nothing to compare against


def test_the_chart_has_a_bar_per_component():
    breakdown = cost(usage(), PRICES)
    svg = cost_chart(breakdown, "Cost")
    assert svg.count("<rect") == len(breakdown.components) + 1  # and the background
    assert all(c.name in svg for c in breakdown.components)
    assert "prices of 2026-12-01" in svg
    assert base64.b64encode(svg.encode())  # plain text, embeddable as a data URI
