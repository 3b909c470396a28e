import time

import numpy as np
import pandas as pd
import pytest

from orchestration.data.offline_features import compute_offline_features
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.monitoring.drift import (
    DriftConfig,
    DriftLevel,
    drift_level,
    evaluate_drift,
    reference_sample,
    sample_sha256,
)
from serving.features import FEATURE_NAMES

WORLD = {"n_customers": 2000, "n_terminals": 1000, "n_days": 21}
ROWS = 3000


def _window(n: int, sample_seed: int, **simulation) -> pd.DataFrame:
    """Feature rows of a simulated world, with a stand-in score that rises with the amount."""
    events, labels = simulate(SimulationConfig(**WORLD, **simulation))
    features = compute_offline_features(events, labels)
    features["score"] = 1.0 - np.exp(-features["amount"] / 300.0)
    return reference_sample(features, n, sample_seed).frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _window(ROWS, 0, seed=1)


def test_an_undrifted_window_from_another_seed_is_ok(reference, tmp_path):
    started = time.perf_counter()
    result = evaluate_drift(reference, _window(ROWS, 1, seed=2), html_path=tmp_path / "drift.html")
    print(
        f"\none drift evaluation ({ROWS} vs {ROWS} rows, HTML included): {result.seconds:.2f} s "
        f"({time.perf_counter() - started:.2f} s with the simulation)"
    )
    assert result.level is DriftLevel.OK, result.per_feature
    assert result.drifted_features == [] and result.score_drifted is False
    assert list(result.per_feature.index) == list(FEATURE_NAMES)
    assert result.missing_share == 0.0
    html = (tmp_path / "drift.html").read_text()
    assert len(html) > 10_000 and "<html" in html.lower()


def test_amounts_tripled_are_detected_on_the_amount_features_and_the_score(reference, tmp_path):
    html_path = tmp_path / "drift.html"
    result = evaluate_drift(reference, _window(ROWS, 1, seed=2, amount_scale=3.0), html_path=html_path)
    print(
        f"\namount_scale=3: {result.level}, drifted {result.drifted_features}, score drift "
        f"{result.score_drift:.3f}, {result.seconds:.2f} s"
    )
    assert result.level in (DriftLevel.WARNING, DriftLevel.CRITICAL)
    assert {"amount", "cust_mean_amount_7d", "cust_mean_amount_30d"} <= set(result.drifted_features)
    assert not any(name.startswith("mcc_") for name in result.drifted_features)
    assert result.score_drifted is True and "score distribution drifted" in result.reasons
    assert result.to_metadata()["level"] == result.level.value
    # The report a person opens says what the level says: its headline uses the CRITICAL share.
    headline = (
        "Dataset Drift is detected"
        if result.level is DriftLevel.CRITICAL
        else "Dataset Drift is NOT detected"
    )
    assert f"{headline}. Dataset drift detection threshold is 0.3" in html_path.read_text()


def test_a_shift_in_merchant_mix_flags_that_category(reference):
    result = evaluate_drift(reference, _window(ROWS, 1, seed=2, category_shift={"travel": 8.0}))
    print(f"\ncategory_shift travel x8: {result.level}, drifted {result.drifted_features}")
    assert result.level in (DriftLevel.WARNING, DriftLevel.CRITICAL)
    assert "mcc_travel" in result.drifted_features
    assert "amount" not in result.drifted_features


@pytest.mark.parametrize(
    ("share", "score_drifted", "missing", "level"),
    [
        (0.05, False, 0.0, DriftLevel.OK),
        (0.05, None, 0.0, DriftLevel.OK),
        (0.1, False, 0.0, DriftLevel.WARNING),
        (0.0, True, 0.0, DriftLevel.WARNING),
        (0.0, False, 0.2, DriftLevel.WARNING),
        (0.3, False, 0.0, DriftLevel.CRITICAL),
    ],
)
def test_levels_follow_the_configured_shares(share, score_drifted, missing, level):
    assert drift_level(share, score_drifted, missing, DriftConfig())[0] is level
    with pytest.raises(ValueError, match="warning_share"):
        DriftConfig(warning_share=0.5, critical_share=0.2)


def test_reference_sample_is_reproducible_and_versioned():
    features = pd.DataFrame(
        np.random.default_rng(0).uniform(size=(500, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES)
    )
    first, again = reference_sample(features, 100, seed=3), reference_sample(features, 100, seed=3)
    other = reference_sample(features, 100, seed=4)
    assert first.sha256 == again.sha256 == sample_sha256(first.frame)
    assert other.sha256 != first.sha256
    assert len(first.frame) == 100 and first.source_rows == 500
    assert len(reference_sample(features, 10_000, seed=3).frame) == 500


def test_bad_inputs_are_named(reference):
    with pytest.raises(ValueError, match="current window lack feature column.*'amount'"):
        evaluate_drift(reference, reference.drop(columns="amount"))
    with pytest.raises(ValueError, match="score column in one frame only"):
        evaluate_drift(reference, reference.drop(columns="score"))
    with pytest.raises(ValueError, match="n must be >= 1"):
        reference_sample(reference, 0, seed=1)
