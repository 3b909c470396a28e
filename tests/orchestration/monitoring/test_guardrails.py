import numpy as np
import pandas as pd
import pytest

from orchestration.monitoring.guardrails import (
    SRM,
    GuardrailConfig,
    VariantStats,
    check_guardrails,
    stats_from_predictions,
)

CONFIG = GuardrailConfig(production_variant="blue")
WEIGHTS = {"blue": 0.9, "green": 0.1}


def _healthy(requests: int, decline_rate: float = 0.02) -> VariantStats:
    return VariantStats(requests=requests, errors=0, p99_latency_ms=40.0, decline_rate=decline_rate)


def _figures(breaches):
    return {(b.variant, b.figure) for b in breaches}


def test_a_healthy_window_on_its_weights_has_no_breach():
    assert check_guardrails({"blue": _healthy(9000), "green": _healthy(1000)}, WEIGHTS, CONFIG) == []


def test_fair_splits_do_not_raise_a_false_srm():
    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(500):
        green = int(rng.binomial(10_000, 0.1))
        window = {"blue": _healthy(10_000 - green), "green": _healthy(green)}
        flagged += any(b.figure == SRM for b in check_guardrails(window, WEIGHTS, CONFIG))
    assert flagged <= 3  # expected 0.5 at p < 0.001


def test_srm_is_detected_and_names_the_starved_variant():
    window = {"blue": _healthy(9300), "green": _healthy(700)}  # 7 % where 10 % was configured
    (breach,) = check_guardrails(window, WEIGHTS, CONFIG)
    assert (breach.variant, breach.figure, breach.limit) == ("green", SRM, 0.001)
    assert breach.value < 1e-6
    assert "0.070" in breach.message and "0.100" in breach.message


def test_error_latency_and_decline_breaches_name_variant_value_and_limit():
    window = {
        "blue": _healthy(9000),
        "green": VariantStats(requests=1000, errors=50, p99_latency_ms=900.0, decline_rate=0.08),
    }
    breaches = {(b.variant, b.figure): b for b in check_guardrails(window, WEIGHTS, CONFIG)}
    assert set(breaches) == {("green", "error_rate"), ("green", "p99_latency_ms"), ("green", "decline_ratio")}
    assert breaches["green", "error_rate"].value == pytest.approx(0.05)
    assert breaches["green", "p99_latency_ms"].limit == CONFIG.max_p99_latency_ms
    assert breaches["green", "decline_ratio"].value == pytest.approx(4.0)
    assert breaches["green", "decline_ratio"].limit == CONFIG.max_decline_ratio


def test_a_candidate_that_stops_declining_breaches_the_lower_bound():
    window = {"blue": _healthy(9000), "green": _healthy(1000, decline_rate=0.001)}
    (breach,) = check_guardrails(window, WEIGHTS, CONFIG)
    assert (breach.figure, breach.limit) == ("decline_ratio", CONFIG.min_decline_ratio)


def test_ratio_and_srm_checks_wait_for_enough_requests():
    window = {"blue": _healthy(90), "green": _healthy(30, decline_rate=0.5)}
    assert check_guardrails(window, WEIGHTS, CONFIG) == []


def test_unknown_variant_and_missing_production_are_errors():
    with pytest.raises(ValueError, match="'red'"):
        check_guardrails({"red": _healthy(10)}, WEIGHTS, CONFIG)
    with pytest.raises(ValueError, match="'blue' not in weights"):
        check_guardrails({}, {"green": 1.0}, CONFIG)


def test_stats_from_prediction_records():
    rng = np.random.default_rng(1)
    n = 1000
    predictions = pd.DataFrame(
        {
            "variant": np.where(np.arange(n) % 4 == 0, "green", "blue"),
            "latency_ms": rng.uniform(5, 50, n),
            "decision": np.where(np.arange(n) % 10 == 0, "decline", "approve"),
            "fallback": False,
        }
    )
    predictions.loc[:9, ["variant", "fallback", "decision"]] = [None, True, "review"]
    stats = stats_from_predictions(predictions, {"green": 5, "red": 2})
    assert set(stats) == {"blue", "green", "red"}
    assert stats["green"].requests == (predictions["variant"] == "green").sum() + 5
    assert stats["green"].errors == 5
    assert stats["blue"].p99_latency_ms == pytest.approx(
        np.percentile(predictions.loc[predictions["variant"] == "blue", "latency_ms"], 99)
    )
    assert stats["red"].error_rate == 1.0
    # errors are per endpoint call; one call carries a micro-batch, so the rate is against the calls
    per_call = stats_from_predictions(predictions, {"green": 3}, {"green": 10})["green"]
    assert per_call.error_rate == pytest.approx(0.3)
    breaches = check_guardrails(
        {"green": per_call}, {"green": 1.0}, GuardrailConfig(production_variant="green")
    )
    assert [b.figure for b in breaches] == ["error_rate"] and "3 of 10 calls" in breaches[0].message
    with pytest.raises(ValueError, match="latency_ms"):
        stats_from_predictions(predictions.drop(columns="latency_ms"))
