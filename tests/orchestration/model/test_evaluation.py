"""Model quality metrics on small examples whose answers are known by hand."""

import numpy as np
import pandas as pd
import pytest

from orchestration.model.evaluation import best_f1_threshold, card_precision_at_k, evaluate
from serving.features import MS_PER_DAY


def test_best_f1_threshold_separates_a_separable_set():
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    assert best_f1_threshold(y, scores) == 0.7  # flags exactly the two frauds: F1 = 1


def test_best_f1_threshold_trades_precision_for_recall():
    # At 0.8 only one of two frauds is caught (F1 2/3); at 0.4 both, with one false alarm (F1 0.8).
    y = np.array([0, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.5, 0.8])
    assert best_f1_threshold(y, scores) == 0.4


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "d", "e"],
            "timestamp_ms": [0, 1, 2, MS_PER_DAY, MS_PER_DAY + 1, MS_PER_DAY + 2],
            "score": [0.9, 0.2, 0.8, 0.7, 0.6, 0.1],
            "is_fraud": [True, False, False, True, False, False],
            "scenario": ["card_testing", "none", "none", "compromised_card", "none", "none"],
        }
    )


def test_card_precision_at_k_is_the_daily_share_of_frauds_among_the_top_cards():
    # Day 0: top-1 card is a (fraud) -> 1; day 1: top-1 is c (fraud) -> 1. Top-2: day 0 {a, b} -> 1/2,
    # day 1 {c, d} -> 1/2.
    assert card_precision_at_k(_frame(), 1) == 1.0
    assert card_precision_at_k(_frame(), 2) == 0.5


def test_evaluate_reports_the_operating_point():
    metrics = evaluate(_frame(), threshold=0.65, top_k_cards=2)
    assert metrics["n_transactions"] == 6
    assert metrics["fraud_rate"] == pytest.approx(2 / 6)
    # Flagged at 0.65: 0.9 (fraud), 0.8 (legit), 0.7 (fraud).
    assert metrics["precision_at_threshold"] == pytest.approx(2 / 3)
    assert metrics["recall_at_threshold"] == 1.0
    assert metrics["alert_rate"] == pytest.approx(3 / 6)
    assert metrics["card_precision_at_2"] == 0.5
    assert metrics["roc_auc"] == 0.875  # of 8 fraud/legit pairs, only (0.7, 0.8) is ordered wrong
    assert metrics["recall_card_testing"] == 1.0 and metrics["recall_compromised_card"] == 1.0
    assert metrics["threshold"] == 0.65


def test_a_threshold_above_every_score_flags_nothing_without_dividing_by_zero():
    metrics = evaluate(_frame(), threshold=2.0, top_k_cards=1)
    assert metrics["precision_at_threshold"] == 0.0 and metrics["alert_rate"] == 0.0
    assert metrics["recall_card_testing"] == 0.0
