"""serving.consumer.fallback: the conservative rule used when the endpoint cannot answer."""

import pytest

from serving.consumer.fallback import FALLBACK_MODEL_VERSION, fallback_decision
from serving.schemas import validate_event

EVENT = {
    "request_id": "tx-1",
    "customer_id": "C1",
    "terminal_id": "T1",
    "merchant_category": "grocery",
    "amount": 20.0,
    "timestamp": "2026-01-05T10:00:00.000Z",
    "device_id": "dev-1",
    "distance_from_home": 2.0,
}


@pytest.mark.parametrize(
    ("amount", "distance", "seen", "expected"),
    [
        (20.0, 2.0, True, (0.0, "approve")),
        (499.99, 2.0, False, (0.0, "approve")),
        (500.0, 2.0, True, (1.0, "review")),  # large: review even from a known device
        (20.0, 50.0, False, (1.0, "review")),  # new device far from home
        (20.0, 49.9, False, (0.0, "approve")),  # new device, but near home
        (20.0, 3000.0, True, (0.0, "approve")),  # far from home on a known device
    ],
)
def test_rule(amount, distance, seen, expected):
    event = validate_event({**EVENT, "amount": amount, "distance_from_home": distance})
    assert fallback_decision(event, seen, review_amount=500.0, review_distance_km=50.0) == expected


def test_fallback_version_is_not_a_model_version():
    assert FALLBACK_MODEL_VERSION == "fallback-rule-v1"
