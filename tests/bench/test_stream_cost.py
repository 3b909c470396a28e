"""bench/stream_cost.py: the windows it reads and the ratios it reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from bench.stream_cost import minutes_window, print_cost
from orchestration.monitoring.cost import SEED_RATES_PER_S, Usage
from tests.sample_usage import sample_usage


def _usage(write_units_per_record: float, lambda_requests_per_record: float) -> Usage:
    n = 1_000.0
    return sample_usage(
        n,
        60.0,
        lambda_requests=n * lambda_requests_per_record,
        dynamodb_write_units=n * write_units_per_record,
    )


def test_a_window_spans_the_whole_minutes_of_its_run():
    started = datetime(2026, 12, 1, 10, 4, 59, 900_000, tzinfo=UTC).timestamp()
    ended = datetime(2026, 12, 1, 10, 6, 0, 100_000, tzinfo=UTC).timestamp()
    window = minutes_window(started, ended)
    assert (window.start, window.end) == (
        datetime(2026, 12, 1, 10, 4, tzinfo=UTC),
        datetime(2026, 12, 1, 10, 7, tzinfo=UTC),
    )


def test_the_ratio_at_each_seed_rate_is_the_baseline_total_over_the_paths():
    console = Console(record=True, width=160)
    ratios = print_cost(console, _usage(1.0, 0.002), _usage(3.0, 1.0), 10_000.0, 100.0)
    assert set(ratios) == set(SEED_RATES_PER_S)
    assert all(ratio > 1 for ratio in ratios.values())  # the baseline pays more per prediction
    shown = " ".join(console.export_text().split())
    for rate in SEED_RATES_PER_S:
        assert f"one-at-a-time, at {rate:,.0f} tx/s" in shown
    same = print_cost(console, _usage(1.0, 0.002), _usage(1.0, 0.002), 10_000.0, 10_000.0)
    assert all(ratio == pytest.approx(1.0) for ratio in same.values())
