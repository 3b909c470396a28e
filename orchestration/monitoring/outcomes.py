"""Join predictions to their labels, using only matured cohorts, and score each decision.

Fraud labels arrive late (a chargeback comes days after the transaction) and a legitimate transaction
is only known to be legitimate once the maturity period has passed. Comparing models on labels that are
not final yet would count every pending fraud as a correct approval, so a prediction enters a comparison
only once its label is final: label_available_ms <= as_of_ms, where as_of_ms is the replay clock (e.g.
the latest event time seen), never the wall clock.

A decision is "flagged" when it is not "approve" (decline or review both stop the payment for a human
or the customer to confirm). Its cost is what the business loses: a missed fraud costs `missed_fraud`,
a flagged legitimate payment costs `false_decline`, a right decision costs nothing. That per-decision
cost is the outcome the A/B test compares (orchestration/ab_testing.py): lower mean cost is better.
Fallback predictions (no model answered) are counted but kept out of model comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = ("request_id", "variant", "score", "decision", "fallback")
LABEL_COLUMNS = ("request_id", "is_fraud", "label_available_ms")
DECISIONS = ("approve", "decline", "review")
FALLBACK_ROW = "(fallback)"


@dataclass(frozen=True)
class DecisionCosts:
    """Loss of one wrong decision, in units of a missed fraud by default."""

    missed_fraud: float = 1.0
    false_decline: float = 0.1

    def __post_init__(self) -> None:
        for name in ("missed_fraud", "false_decline"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"DecisionCosts.{name} must be a finite number >= 0, got {value!r}")

    @property
    def max_cost(self) -> float:
        return max(self.missed_fraud, self.false_decline)


@dataclass(frozen=True)
class MaturedOutcomes:
    """Matured predictions with their outcome columns, and a per-variant summary.

    per_prediction: the prediction columns plus is_fraud, label_available_ms, flagged, correct, cost.
    per_variant: one row per model variant (and one FALLBACK_ROW row when there were fallbacks) with
    n, tp, fp, tn, fn, fraud_rate, decline_rate, mean_score, mean_cost.
    pending: predictions whose label is not final at as_of_ms (or has not arrived at all).
    """

    as_of_ms: int
    per_prediction: pd.DataFrame
    per_variant: pd.DataFrame
    pending: int

    def costs(self, variant: str) -> np.ndarray:
        """Per-decision costs of one variant's matured model predictions (the A/B test's outcomes)."""
        rows = self.per_prediction
        return rows.loc[(rows["variant"] == variant) & ~rows["fallback"], "cost"].to_numpy(np.float64)


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {missing}; have {list(frame.columns)}")


def _require_unique(frame: pd.DataFrame, what: str) -> None:
    duplicated = frame["request_id"][frame["request_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{what} repeat request_id(s) {duplicated.unique()[:5].tolist()}")


def decision_costs(flagged: np.ndarray, is_fraud: np.ndarray, costs: DecisionCosts) -> np.ndarray:
    """Cost of each decision: missed frauds and false declines, zero when right."""
    flagged, is_fraud = np.asarray(flagged, bool), np.asarray(is_fraud, bool)
    return np.where(
        is_fraud & ~flagged, costs.missed_fraud, np.where(flagged & ~is_fraud, costs.false_decline, 0.0)
    )


def _summary(rows: pd.DataFrame) -> pd.DataFrame:
    fraud, flagged = rows["is_fraud"], rows["flagged"]
    groups = rows.assign(
        group=np.where(rows["fallback"], FALLBACK_ROW, rows["variant"].astype(object)),
        tp=fraud & flagged,
        fp=~fraud & flagged,
        tn=~fraud & ~flagged,
        fn=fraud & ~flagged,
    ).groupby("group", sort=True)
    summary = groups.agg(
        n=("request_id", "size"),
        tp=("tp", "sum"),
        fp=("fp", "sum"),
        tn=("tn", "sum"),
        fn=("fn", "sum"),
        fraud_rate=("is_fraud", "mean"),
        decline_rate=("flagged", "mean"),
        mean_score=("score", "mean"),
        mean_cost=("cost", "mean"),
    )
    summary.index.name = "variant"
    return summary.astype({c: np.int64 for c in ("n", "tp", "fp", "tn", "fn")})


def join_outcomes(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    as_of_ms: int,
    costs: DecisionCosts | None = None,
    matured_after_ms: int | None = None,
) -> MaturedOutcomes:
    """Matured outcomes of `predictions` at replay time `as_of_ms`.

    With `matured_after_ms`, only labels that became final in (matured_after_ms, as_of_ms] are
    returned: a sensor keeps the previous as_of_ms in its cursor and feeds each outcome to the A/B
    test exactly once. Predictions are the consumer's records (request_id, variant, score, decision,
    fallback, ...); labels have request_id, is_fraud, label_available_ms.
    """
    costs = costs or DecisionCosts()
    _require_columns(predictions, PREDICTION_COLUMNS, "predictions")
    _require_columns(labels, LABEL_COLUMNS, "labels")
    _require_unique(predictions, "predictions")
    _require_unique(labels, "labels")
    unknown = set(predictions["decision"].unique()) - set(DECISIONS)
    if unknown:
        raise ValueError(
            f"predictions have unknown decision(s) {sorted(map(str, unknown))}; known: {DECISIONS}"
        )

    joined = predictions.merge(labels[list(LABEL_COLUMNS)], on="request_id", how="left")
    available = joined["label_available_ms"]
    is_matured = available.notna() & (available <= as_of_ms)
    if matured_after_ms is not None:
        is_matured &= available > matured_after_ms
    pending = int((available.isna() | (available > as_of_ms)).sum())

    rows = joined[is_matured].reset_index(drop=True)
    rows["fallback"] = rows["fallback"].astype(bool)
    rows["is_fraud"] = rows["is_fraud"].astype(bool)
    rows["label_available_ms"] = rows["label_available_ms"].astype(np.int64)
    rows["flagged"] = rows["decision"] != "approve"
    rows["correct"] = rows["flagged"] == rows["is_fraud"]
    rows["cost"] = decision_costs(rows["flagged"].to_numpy(), rows["is_fraud"].to_numpy(), costs)
    return MaturedOutcomes(int(as_of_ms), rows, _summary(rows), pending)
