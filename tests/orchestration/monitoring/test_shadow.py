import numpy as np
import pandas as pd
import pytest

from orchestration.monitoring.shadow import compare_shadow

N = 2000
THRESHOLD = 0.5


def _world(shadow_noise: float, seed: int = 0):
    """Production scores track the truth loosely; the shadow is production plus noise."""
    rng = np.random.default_rng(seed)
    ids = [f"r{i}" for i in range(N)]
    fraud = rng.uniform(size=N) < 0.2
    prod_score = np.clip(np.where(fraud, 0.7, 0.3) + rng.normal(0, 0.15, N), 0, 1)
    shadow_score = np.clip(prod_score + rng.normal(0, shadow_noise, N), 0, 1)
    latency = rng.uniform(10, 30, N)
    production = pd.DataFrame(
        {
            "request_id": ids,
            "score": prod_score,
            "decision": np.where(prod_score >= THRESHOLD, "decline", "approve"),
            "latency_ms": latency,
            "fallback": False,
        }
    )
    shadow = pd.DataFrame({"request_id": ids, "score": shadow_score, "latency_ms": latency + 5.0})
    labels = pd.DataFrame({"request_id": ids, "is_fraud": fraud, "label_available_ms": np.arange(N)})
    return production, shadow, labels


def test_an_identical_shadow_agrees_fully_and_costs_its_latency():
    production, _, _ = _world(0.0)
    shadow = production[["request_id", "score"]].assign(latency_ms=production["latency_ms"] + 5.0)
    result = compare_shadow(production, shadow, THRESHOLD)
    assert result.n_paired == N and result.n_production_only == 0
    assert result.agreement_rate == 1.0
    assert result.spearman == pytest.approx(1.0)
    assert result.latency_diff_median_ms == pytest.approx(5.0)
    assert result.latency_diff_p99_ms == pytest.approx(5.0)
    assert result.mcnemar_p_value is None
    assert set(result.to_metadata()) == {
        "n_paired",
        "n_production_only",
        "agreement_rate",
        "spearman",
        "latency_diff_median_ms",
        "latency_diff_p99_ms",
        "n_labelled",
    }


def test_a_noisier_shadow_ranks_differently_and_mcnemar_sees_it_is_worse():
    production, shadow, labels = _world(0.3)
    result = compare_shadow(production, shadow, THRESHOLD, labels, as_of_ms=N)
    assert 0.5 < result.agreement_rate < 0.95
    assert 0.3 < result.spearman < 0.9
    assert result.n_labelled == N
    assert result.shadow_accuracy < result.production_accuracy
    assert result.only_production_correct > result.only_shadow_correct
    assert result.mcnemar_p_value < 1e-6
    assert all(isinstance(v, float) for v in result.to_metadata().values())


def test_only_final_labels_count_and_small_discordance_uses_the_exact_test():
    production, shadow, labels = _world(0.01)
    result = compare_shadow(production, shadow, THRESHOLD, labels, as_of_ms=N // 2 - 1)
    assert result.n_labelled == N // 2
    assert result.only_production_correct + result.only_shadow_correct < 25
    assert 0.0 <= result.mcnemar_p_value <= 1.0


def test_unpaired_and_fallback_requests_are_left_out():
    production, shadow, _ = _world(0.1)
    production.loc[:9, "fallback"] = True
    result = compare_shadow(production, shadow.iloc[100:], THRESHOLD)
    assert result.n_paired == N - 100
    assert result.n_production_only == 90


def test_bad_inputs_are_named():
    production, shadow, labels = _world(0.1)
    with pytest.raises(ValueError, match="shadow captures lack column.*latency_ms"):
        compare_shadow(production, shadow.drop(columns="latency_ms"), THRESHOLD)
    with pytest.raises(ValueError, match="as_of_ms"):
        compare_shadow(production, shadow, THRESHOLD, labels)
    with pytest.raises(ValueError, match="shadow captures repeat request_id"):
        compare_shadow(production, pd.concat([shadow, shadow.head(2)]), THRESHOLD)
    with pytest.raises(ValueError, match="no request was answered by both"):
        compare_shadow(production, shadow.assign(request_id="x" + shadow["request_id"]), THRESHOLD)
