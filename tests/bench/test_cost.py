"""bench/cost.py: the path next to the one-at-a-time baseline, printed with the ratio."""

from __future__ import annotations

import pytest
from rich.console import Console

from bench.cost import print_comparison
from orchestration.monitoring.cost import StreamUsage, Usage
from tests.sample_usage import sample_usage


def usage(per_record_calls: float) -> Usage:
    n = 10_000.0
    return sample_usage(
        n,
        100.0,
        streams=(StreamUsage("in", 1, n * per_record_calls, n * 300),),
        lambda_requests=n * per_record_calls,
        lambda_duration_ms=n * per_record_calls * 20,
        dynamodb_write_units=n * 2,
    )


def test_both_patterns_and_the_ratio_are_printed():
    console = Console(record=True, width=160)
    frame = print_comparison(console, usage(0.002), usage(1.0))
    shown = console.export_text()
    assert "path (10,000 predictions in 1.7 min) vs" in " ".join(shown.split())
    assert "Lambda requests" in shown and "ratio" in shown
    assert frame.loc["Lambda requests", "ratio"] == pytest.approx(500)
    assert frame.loc["DynamoDB writes", "ratio"] == pytest.approx(1)
