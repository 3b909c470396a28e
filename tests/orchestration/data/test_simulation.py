import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from orchestration.data.simulation import SCENARIOS, SimulationConfig, simulate
from serving.features import MS_PER_DAY
from serving.schemas import EVENT_FIELDS, MERCHANT_CATEGORIES

SMALL = {"n_customers": 400, "n_terminals": 150, "n_days": 21, "seed": 3}


@pytest.fixture(scope="module")
def default_world():
    return simulate(SimulationConfig())


def test_same_seed_same_data_and_other_seed_differs():
    first_events, first_labels = simulate(SimulationConfig(**SMALL))
    again_events, again_labels = simulate(SimulationConfig(**SMALL))
    pd.testing.assert_frame_equal(first_events, again_events)
    pd.testing.assert_frame_equal(first_labels, again_labels)
    other, _ = simulate(SimulationConfig(**{**SMALL, "seed": 4}))
    assert not first_events["amount"].equals(other["amount"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_customers", 0), ("n_days", -3), ("amount_scale", 0), ("compromised_terminal_fraud_share", 1.5)],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        SimulationConfig(**{field: value})


def test_unknown_category_in_shift_is_named():
    with pytest.raises(ValidationError, match="'casino'"):
        SimulationConfig(category_shift={"casino": 2.0})


def test_unknown_field_is_rejected():
    with pytest.raises(ValidationError, match="n_customer"):
        SimulationConfig(n_customer=10)


def test_default_size_and_fraud_rate(default_world):
    events, labels = default_world
    assert 200_000 <= len(events) <= 600_000
    assert 0.006 <= labels["is_fraud"].mean() <= 0.015
    assert set(labels.loc[labels["is_fraud"], "scenario"]) == set(SCENARIOS) - {"none"}
    assert set(labels.loc[~labels["is_fraud"], "scenario"]) == {"none"}


def test_events_carry_the_stream_fields(default_world):
    events, labels = default_world
    assert set(EVENT_FIELDS) <= set(events.columns)
    assert events["request_id"].is_unique
    assert events["timestamp_ms"].is_monotonic_increasing
    assert set(events["merchant_category"]) <= set(MERCHANT_CATEGORIES)
    assert (events["amount"] > 0).all() and (events["distance_from_home"] >= 0).all()
    assert (labels["request_id"] == events["request_id"]).all()


def test_labels_arrive_late_and_within_maturity(default_world):
    events, labels = default_world
    delay = labels["label_available_ms"] - events["timestamp_ms"]
    fraud = labels["is_fraud"]
    assert (delay[fraud] >= MS_PER_DAY).all()
    assert (delay <= SimulationConfig().label_maturity_days * MS_PER_DAY).all()
    assert delay[fraud].median() > 2 * MS_PER_DAY


def test_compromised_cards_look_different_from_their_owner(default_world):
    events, labels = default_world
    joined = events.assign(scenario=labels["scenario"])
    stolen = joined[joined["scenario"] == "compromised_card"]
    legit = joined[joined["scenario"] == "none"]
    assert stolen["distance_from_home"].mean() > 3 * legit["distance_from_home"].mean()
    assert stolen["device_id"].str.startswith("dev-x-").mean() > 0.4


def test_drift_knobs_move_the_data():
    base_events, base_labels = simulate(SimulationConfig(**SMALL))
    scaled, _ = simulate(SimulationConfig(**SMALL, amount_scale=2.0))
    assert scaled["amount"].mean() == pytest.approx(2 * base_events["amount"].mean(), rel=0.02)

    shifted, _ = simulate(SimulationConfig(**SMALL, category_shift={"travel": 6.0}))
    assert (shifted["merchant_category"] == "travel").mean() > 2 * (
        base_events["merchant_category"] == "travel"
    ).mean()

    _, more_fraud = simulate(SimulationConfig(**SMALL, fraud_rate_scale=3.0))
    assert more_fraud["is_fraud"].mean() > 2 * base_labels["is_fraud"].mean()


def test_card_testing_bursts_are_seconds_apart(default_world):
    events, labels = default_world
    bursts = events[labels["scenario"] == "card_testing"].sort_values("timestamp_ms")
    gaps = bursts.groupby("device_id")["timestamp_ms"].diff().dropna()
    assert np.median(gaps) < 120_000
