import pytest

from serving.schemas import EventValidationError, format_timestamp, validate_event

GOOD = {
    "request_id": "tx-1",
    "customer_id": "C1",
    "terminal_id": "T1",
    "merchant_category": "grocery",
    "amount": 12.5,
    "timestamp": "2026-01-05T10:00:00.000Z",
    "device_id": "dev-1",
    "distance_from_home": 3.2,
}


def test_valid_event_round_trips():
    event = validate_event(GOOD)
    assert event.to_dict() == GOOD
    assert event.timestamp_ms == 1767607200000
    assert format_timestamp(event.timestamp_ms) == GOOD["timestamp"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("amount", "12", "must be a number"),
        ("amount", -1, "between"),
        ("amount", float("nan"), "between"),
        ("amount", True, "must be a number"),
        ("merchant_category", "casino", "not a known merchant category"),
        ("timestamp", "yesterday", "not an ISO-8601"),
        ("timestamp", "2026-01-05T10:00:00", "timezone"),
        ("customer_id", "", "non-empty"),
        ("distance_from_home", None, "must be a number"),
    ],
)
def test_bad_field_is_named_with_its_value(field, value, problem):
    with pytest.raises(EventValidationError) as caught:
        validate_event({**GOOD, field: value})
    assert caught.value.field == field
    assert field in str(caught.value) and problem in str(caught.value)


def test_missing_field_is_named():
    payload = {k: v for k, v in GOOD.items() if k != "device_id"}
    with pytest.raises(EventValidationError, match="'device_id': is required"):
        validate_event(payload)


def test_non_object_is_rejected():
    with pytest.raises(EventValidationError, match="JSON object"):
        validate_event([1, 2])
