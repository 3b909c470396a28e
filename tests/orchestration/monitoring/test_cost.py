"""The cost model: usage priced by the dated table, per million predictions and per month, and the
what-ifs that scale measured usage to a target rate."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration.monitoring.cost import (
    MONTH_S,
    SEED_RATES_PER_S,
    StreamUsage,
    Usage,
    VariantUsage,
    cost,
    shards_for,
    what_if,
)
from orchestration.monitoring.prices import DEFAULT_PRICE_TABLE, PriceTableError, load_price_table
from tests.sample_usage import sample_usage

PRICES = load_price_table(DEFAULT_PRICE_TABLE)


def usage(**overrides) -> Usage:
    """One hour, 3,600,000 predictions (1,000/s), with round per-prediction figures."""
    n = 3_600_000.0
    fields = {
        "streams": (StreamUsage("in", 2, n, n * 300), StreamUsage("out", 2, n, n * 500)),
        "variants": (VariantUsage("production", "ml.m5.large", 1, 1.0),),
        "function_memory_mb": 1024,
        "lambda_requests": n / 100,
        "lambda_duration_ms": n / 100 * 200,
        "dynamodb_read_units": n * 0.5,
    }
    return sample_usage(n, 3600.0, **{**fields, **overrides})


def component(breakdown, name: str):
    (found,) = [c for c in breakdown.components if c.name == name]
    return found


def test_each_component_by_hand():
    """The figures worked out by hand from the table's prices."""
    breakdown = cost(usage(), PRICES)
    per_m = {c.name: breakdown.per_million(c.usd) for c in breakdown.components}
    # DynamoDB: 1 write unit and half a read unit per prediction
    assert per_m["DynamoDB writes"] == pytest.approx(0.625)
    assert per_m["DynamoDB reads"] == pytest.approx(0.125 * 0.5)
    # Kinesis: 2 records (in and out) of <25 KB per prediction = 2 PUT units; 4 shards for an hour
    assert per_m["Kinesis PUT units"] == pytest.approx(2 * 0.014)
    assert component(breakdown, "Kinesis shards").quantity == 4
    assert per_m["Kinesis shards"] == pytest.approx(4 * 0.015 / 3.6)
    # Lambda: one call per 100 predictions of 200 ms at 1 GB
    assert per_m["Lambda requests"] == pytest.approx(0.20 / 100)
    assert per_m["Lambda duration"] == pytest.approx(0.2 * 0.0000166667 * 1e6 / 100)
    # one ml.m5.large hour over 3.6 M predictions
    assert per_m["SageMaker instances"] == pytest.approx(0.115 / 3.6)
    # six custom metrics for an hour of a 730-hour month
    assert component(breakdown, "CloudWatch metrics").usd == pytest.approx(6 * 0.30 / 730)
    assert breakdown.per_million(breakdown.usd) == pytest.approx(sum(per_m.values()))
    assert breakdown.per_month(breakdown.usd) == pytest.approx(breakdown.usd * 730)


def test_arm64_duration_is_priced_by_its_own_rate():
    x86 = component(cost(usage(), PRICES), "Lambda duration").usd
    arm = component(cost(usage(function_architecture="arm64"), PRICES), "Lambda duration").usd
    assert arm / x86 == pytest.approx(0.0000133334 / 0.0000166667)


def test_a_window_without_predictions_has_no_per_prediction_cost():
    breakdown = cost(usage(predictions=0.0), PRICES)
    assert math.isnan(breakdown.per_million(breakdown.usd))
    assert breakdown.usd > 0  # the fixed capacity still costs
    with pytest.raises(ValueError, match="no predictions"):
        what_if(usage(predictions=0.0), 1000, 5000)


def test_an_unpriced_instance_type_names_it():
    with pytest.raises(PriceTableError, match="ml.g5.xlarge"):
        cost(usage(variants=(VariantUsage("production", "ml.g5.xlarge", 1, 1.0),)), PRICES)


def test_shards_follow_the_per_shard_write_limits():
    assert shards_for(0, 0) == 1
    assert shards_for(1000, 1024 * 1024) == 1
    assert shards_for(1001, 10) == 2  # records bind
    assert shards_for(10, 1024 * 1024 + 1) == 2  # bytes bind
    assert shards_for(50_000, 50_000 * 300) == 50


def test_the_seed_rates_size_the_fixed_capacity():
    fifty_k, one_k = (what_if(usage(), rate, rows_per_instance_s=5000) for rate in SEED_RATES_PER_S)
    assert [s.shards for s in fifty_k.streams] == [50, 50]  # 50,000 records/s in each stream
    assert [v.instances for v in fifty_k.variants] == [10]
    assert [s.shards for s in one_k.streams] == [1, 1]
    assert [v.instances for v in one_k.variants] == [1]


@given(
    rate=st.floats(1, 200_000),
    rows_per_instance=st.floats(100, 100_000),
    shadow=st.booleans(),
)
def test_what_if_keeps_the_per_prediction_cost_of_what_scales(rate, rows_per_instance, shadow):
    """Request-priced components cost the same per prediction at any rate; fixed capacity is sized to
    hold the rate within its limits and no larger than needed."""
    variants = (
        VariantUsage("production", "ml.c5.large", 1, 0.9),
        VariantUsage("candidate", "ml.c5.large", 1, 0.1),
    )
    if shadow:
        variants += (VariantUsage("shadow", "ml.m5.large", 1, 1.0),)
    measured = usage(variants=variants)
    scaled = what_if(measured, rate, rows_per_instance)
    before, after = cost(measured, PRICES), cost(scaled, PRICES)
    assert scaled.predictions / scaled.window_s == pytest.approx(rate)
    for name in (
        "DynamoDB writes",
        "DynamoDB reads",
        "Kinesis PUT units",
        "Lambda requests",
        "Lambda duration",
    ):
        assert after.per_million(component(after, name).usd) == pytest.approx(
            before.per_million(component(before, name).usd)
        )
    for stream in scaled.streams:
        records_per_s, bytes_per_s = stream.records / scaled.window_s, stream.bytes / scaled.window_s
        assert stream.shards * 1000 >= records_per_s and stream.shards * 1024 * 1024 >= bytes_per_s
        assert (
            stream.shards == 1
            or (stream.shards - 1) * 1000 < records_per_s
            or ((stream.shards - 1) * 1024 * 1024 < bytes_per_s)
        )
    for variant in scaled.variants:
        assert variant.instances * rows_per_instance >= rate * variant.share
        assert variant.instances == 1 or (variant.instances - 1) * rows_per_instance < rate * variant.share
    assert after.per_month(after.usd) == pytest.approx(after.usd * MONTH_S / scaled.window_s)
