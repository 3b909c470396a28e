import numpy as np
import pandas as pd
import pytest

from orchestration.monitoring.outcomes import FALLBACK_ROW, DecisionCosts, decision_costs, join_outcomes

COSTS = DecisionCosts(missed_fraud=1.0, false_decline=0.1)


def _records():
    """Six predictions: blue (tp, fp, tn, fn), green (tn), one fallback (review on a fraud)."""
    predictions = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
            "variant": ["blue", "blue", "blue", "blue", "green", None, "green"],
            "score": [0.9, 0.8, 0.1, 0.2, 0.3, 1.0, 0.95],
            "decision": ["decline", "decline", "approve", "approve", "approve", "review", "decline"],
            "fallback": [False, False, False, False, False, True, False],
            "event_ms": [0, 1, 2, 3, 4, 5, 6],
        }
    )
    labels = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
            "is_fraud": [True, False, False, True, False, True, True],
            "label_available_ms": [100, 1000, 1000, 200, 1000, 150, 5000],  # r7 not final at 1000
        }
    )
    return predictions, labels


def test_only_matured_predictions_are_scored_and_confusion_is_per_variant():
    predictions, labels = _records()
    outcomes = join_outcomes(predictions, labels, as_of_ms=1000, costs=COSTS)
    assert outcomes.pending == 1
    assert "r7" not in set(outcomes.per_prediction["request_id"])
    blue = outcomes.per_variant.loc["blue"]
    assert (blue["n"], blue["tp"], blue["fp"], blue["tn"], blue["fn"]) == (4, 1, 1, 1, 1)
    assert blue["fraud_rate"] == 0.5 and blue["decline_rate"] == 0.5
    assert blue["mean_score"] == pytest.approx(0.5)
    assert blue["mean_cost"] == pytest.approx((0.1 + 1.0) / 4)
    assert outcomes.per_variant.loc["green", "n"] == 1
    # The fallback is counted in its own row, never in a model's.
    assert outcomes.per_variant.loc[FALLBACK_ROW, "tp"] == 1
    np.testing.assert_allclose(outcomes.costs("blue"), [0.0, 0.1, 0.0, 1.0])
    assert outcomes.per_prediction.set_index("request_id").loc["r2", "correct"] == False  # noqa: E712


def test_matured_after_feeds_each_outcome_once():
    predictions, labels = _records()
    first = join_outcomes(predictions, labels, as_of_ms=500)
    second = join_outcomes(predictions, labels, as_of_ms=6000, matured_after_ms=500)
    everything = join_outcomes(predictions, labels, as_of_ms=6000)
    seen = list(first.per_prediction["request_id"]) + list(second.per_prediction["request_id"])
    assert sorted(seen) == sorted(everything.per_prediction["request_id"])
    assert len(seen) == len(set(seen)) == 7


def test_a_prediction_without_a_label_is_pending():
    predictions, labels = _records()
    outcomes = join_outcomes(predictions, labels[labels["request_id"] != "r1"], as_of_ms=10_000)
    assert outcomes.pending == 1 and len(outcomes.per_prediction) == 6


def test_costs_of_each_kind_of_decision():
    flagged = np.array([True, True, False, False])
    fraud = np.array([True, False, True, False])
    np.testing.assert_allclose(decision_costs(flagged, fraud, DecisionCosts(5.0, 0.5)), [0, 0.5, 5.0, 0])


def test_bad_inputs_are_named():
    predictions, labels = _records()
    with pytest.raises(ValueError, match="labels lack column.*is_fraud"):
        join_outcomes(predictions, labels.drop(columns="is_fraud"), 0)
    with pytest.raises(ValueError, match="predictions repeat request_id.*r1"):
        join_outcomes(pd.concat([predictions, predictions.head(1)]), labels, 0)
    with pytest.raises(ValueError, match="unknown decision.*'maybe'"):
        join_outcomes(predictions.assign(decision="maybe"), labels, 0)
    with pytest.raises(ValueError, match="false_decline"):
        DecisionCosts(false_decline=-1)
