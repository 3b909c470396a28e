"""The documented conservative rule used when the endpoint cannot answer.

No model, no history: a transaction is sent to review if it is large, or made from a device the
customer has not used before far from home; otherwise it is approved. Every such prediction is
stored with fallback=true and the reason, so it can be re-scored later.
"""

from __future__ import annotations

from serving.schemas import TransactionEvent

FALLBACK_MODEL_VERSION = "fallback-rule-v1"


def fallback_decision(
    event: TransactionEvent, device_seen_before: bool, review_amount: float, review_distance_km: float
) -> tuple[float, str]:
    """(score, decision): score 1.0 and "review" when the rule trips, else 0.0 and "approve"."""
    risky = event.amount >= review_amount or (
        not device_seen_before and event.distance_from_home >= review_distance_km
    )
    return (1.0, "review") if risky else (0.0, "approve")
