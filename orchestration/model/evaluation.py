"""Model quality on a labelled set: ranking metrics, card precision@k, and the operating point."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from serving.features import MS_PER_DAY


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold that maximises F1 (chosen on validation data, never on the test set)."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def card_precision_at_k(frame: pd.DataFrame, k: int) -> float:
    """Mean over days of the share of compromised cards among the k cards with the highest daily score.

    `frame` needs customer_id, timestamp_ms, score and is_fraud. This is what an investigation team
    that can check k cards a day sees (Fraud Detection Handbook, chapter 4).
    """
    day = frame["timestamp_ms"] // MS_PER_DAY
    per_card = (
        frame.assign(day=day)
        .groupby(["day", "customer_id"])
        .agg(score=("score", "max"), fraud=("is_fraud", "max"))
    )
    top = per_card.sort_values("score", ascending=False).groupby(level="day").head(k)
    return float(top.groupby(level="day")["fraud"].sum().div(k).mean())


def evaluate(frame: pd.DataFrame, threshold: float, top_k_cards: int = 100) -> dict[str, float]:
    """Metrics for scored, labelled transactions.

    Columns: score, is_fraud, scenario, customer_id, timestamp_ms.
    """
    y = frame["is_fraud"].to_numpy(bool)
    scores = frame["score"].to_numpy(float)
    flagged = scores >= threshold
    true_positive = int((flagged & y).sum())
    metrics = {
        "n_transactions": float(len(frame)),
        "fraud_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        f"card_precision_at_{top_k_cards}": card_precision_at_k(frame, top_k_cards),
        "threshold": float(threshold),
        "precision_at_threshold": true_positive / max(int(flagged.sum()), 1),
        "recall_at_threshold": true_positive / max(int(y.sum()), 1),
        "alert_rate": float(flagged.mean()),
    }
    for scenario, group in frame[y].groupby("scenario"):
        metrics[f"recall_{scenario}"] = float((group["score"] >= threshold).mean())
    return metrics
