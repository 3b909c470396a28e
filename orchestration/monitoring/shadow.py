"""Paired comparison of a shadow variant with production on the same requests.

A shadow variant scores mirrored copies of production's requests and its answers are never used, so
the two models can be compared request by request: far more sensitive than comparing two separate
streams, because the requests' own variation cancels out. Shadow scores come from the endpoint's data
capture (request_id, score, latency_ms); production's from the prediction records.

Before labels mature: do the two agree on the decision, do they rank requests alike (Spearman), and
what does the shadow cost in latency (paired differences)? Once labels are final: McNemar's test on
the paired correctness, which only looks at the requests where exactly one of the two was right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from statsmodels.stats.contingency_tables import mcnemar

from orchestration.monitoring.outcomes import LABEL_COLUMNS

EXACT_BELOW = 25  # discordant pairs under which McNemar's chi-square approximation is poor


@dataclass(frozen=True)
class ShadowComparison:
    n_paired: int
    n_production_only: int  # production requests the shadow has no capture for
    agreement_rate: float
    spearman: float
    latency_diff_median_ms: float  # shadow - production, per request
    latency_diff_p99_ms: float
    n_labelled: int = 0
    production_accuracy: float | None = None
    shadow_accuracy: float | None = None
    only_production_correct: int | None = None
    only_shadow_correct: int | None = None
    mcnemar_p_value: float | None = None

    def to_metadata(self) -> dict[str, float]:
        """Every figure that is known, as floats (Dagster metadata)."""
        return {key: float(value) for key, value in asdict(self).items() if value is not None}


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {missing}; have {list(frame.columns)}")


def _paired_correctness(paired: pd.DataFrame, labels: pd.DataFrame, as_of_ms: int) -> dict:
    final = labels[labels["label_available_ms"] <= as_of_ms]
    rows = paired.merge(final[list(LABEL_COLUMNS)], on="request_id", how="inner")
    if rows.empty:
        return {}
    fraud = rows["is_fraud"].to_numpy(bool)
    production_right = rows["production_flagged"].to_numpy(bool) == fraud
    shadow_right = rows["shadow_flagged"].to_numpy(bool) == fraud
    only_production = int((production_right & ~shadow_right).sum())
    only_shadow = int((~production_right & shadow_right).sum())
    table = [[int((production_right & shadow_right).sum()), only_production],
             [only_shadow, int((~production_right & ~shadow_right).sum())]]  # fmt: skip
    exact = only_production + only_shadow < EXACT_BELOW
    return {
        "n_labelled": len(rows),
        "production_accuracy": float(production_right.mean()),
        "shadow_accuracy": float(shadow_right.mean()),
        "only_production_correct": only_production,
        "only_shadow_correct": only_shadow,
        "mcnemar_p_value": float(mcnemar(table, exact=exact, correction=True).pvalue),
    }


def match_shadow_captures(shadow: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The shadow's captured answers with the request_id of the production prediction they mirror.

    Capture rows carry no request_id: the consumer sends one InferenceId per micro-batch, and a
    request's row in that batch pairs its capture with its prediction (inference_id, inference_row).
    """
    if shadow.empty or predictions.empty or "inference_id" not in predictions:
        return shadow.iloc[0:0].assign(request_id=pd.Series(dtype=str))
    served = predictions.dropna(subset=["inference_id"])[["request_id", "inference_id", "inference_row"]]
    served = served.astype({"inference_row": int})
    return shadow.merge(served, on=["inference_id", "inference_row"])


def compare_shadow(
    production: pd.DataFrame,
    shadow: pd.DataFrame,
    shadow_threshold: float,
    labels: pd.DataFrame | None = None,
    as_of_ms: int | None = None,
) -> ShadowComparison:
    """Compare shadow and production on the requests both answered.

    production: prediction records (request_id, score, decision, latency_ms, fallback); fallbacks are
    left out, no model answered them. shadow: captured shadow answers (request_id, score, latency_ms);
    its decision is score >= shadow_threshold, the rule the consumer applies. labels (request_id,
    is_fraud, label_available_ms) and the replay clock as_of_ms enable the correctness test, on
    final labels only.
    """
    _require(
        production, ("request_id", "score", "decision", "latency_ms", "fallback"), "production predictions"
    )
    _require(shadow, ("request_id", "score", "latency_ms"), "shadow captures")
    if (labels is None) != (as_of_ms is None):
        raise ValueError("labels and as_of_ms go together: pass both or neither")
    if labels is not None:
        _require(labels, LABEL_COLUMNS, "labels")
    for frame, what in ((production, "production predictions"), (shadow, "shadow captures")):
        repeated = frame["request_id"][frame["request_id"].duplicated()]
        if len(repeated):
            raise ValueError(f"{what} repeat request_id(s) {repeated.unique()[:5].tolist()}")

    answered = production[~production["fallback"].astype(bool)]
    paired = answered.merge(shadow, on="request_id", suffixes=("_production", "_shadow"))
    if paired.empty:
        raise ValueError("no request was answered by both production and the shadow")
    paired["production_flagged"] = paired["decision"] != "approve"
    paired["shadow_flagged"] = paired["score_shadow"] >= shadow_threshold
    latency = (paired["latency_ms_shadow"] - paired["latency_ms_production"]).to_numpy(np.float64)
    correctness = {} if labels is None else _paired_correctness(paired, labels, as_of_ms)
    return ShadowComparison(
        n_paired=len(paired),
        n_production_only=len(answered) - len(paired),
        agreement_rate=float((paired["production_flagged"] == paired["shadow_flagged"]).mean()),
        spearman=float(spearmanr(paired["score_production"], paired["score_shadow"]).statistic),
        latency_diff_median_ms=float(np.median(latency)),
        latency_diff_p99_ms=float(np.percentile(latency, 99)),
        **correctness,
    )
