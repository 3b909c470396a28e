"""The raw transaction event the stream carries, and its validation.

Validation names the field and the value that was wrong, so a DLQ entry explains itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

MERCHANT_CATEGORIES = (
    "grocery",
    "restaurant",
    "fuel",
    "retail",
    "online_retail",
    "electronics",
    "travel",
    "entertainment",
    "health",
    "services",
)
_CATEGORY_SET = frozenset(MERCHANT_CATEGORIES)
MAX_AMOUNT = 1_000_000.0

EVENT_FIELDS = (
    "request_id",
    "customer_id",
    "terminal_id",
    "merchant_category",
    "amount",
    "timestamp",
    "device_id",
    "distance_from_home",
)


class EventValidationError(ValueError):
    """A raw event failed the schema; the message names the field and the value."""

    def __init__(self, field: str, value: object, problem: str):
        self.field = field
        self.value = value
        super().__init__(f"field {field!r}: {problem} (got {value!r})")


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    request_id: str
    customer_id: str
    terminal_id: str
    merchant_category: str
    amount: float
    timestamp_ms: int
    device_id: str
    distance_from_home: float

    @property
    def timestamp(self) -> str:
        return format_timestamp(self.timestamp_ms)

    def to_dict(self) -> dict:
        return {
            "request_id": self.request_id,
            "customer_id": self.customer_id,
            "terminal_id": self.terminal_id,
            "merchant_category": self.merchant_category,
            "amount": self.amount,
            "timestamp": self.timestamp,
            "device_id": self.device_id,
            "distance_from_home": self.distance_from_home,
        }


def format_timestamp(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp_ms(value: object) -> int:
    if not isinstance(value, str):
        raise EventValidationError("timestamp", value, "must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise EventValidationError("timestamp", value, "is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise EventValidationError("timestamp", value, "must carry a timezone (e.g. a trailing Z)")
    return round(moment.timestamp() * 1000)


def _text(payload: dict, field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise EventValidationError(field, value, "must be a non-empty string")
    return value


def _number(payload: dict, field: str, low: float, high: float) -> float:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventValidationError(field, value, "must be a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise EventValidationError(field, value, f"must be between {low} and {high}")
    return float(value)


def validate_event(payload: object) -> TransactionEvent:
    """Turn a decoded JSON object into a TransactionEvent, or raise EventValidationError."""
    if not isinstance(payload, dict):
        raise EventValidationError("<record>", type(payload).__name__, "must be a JSON object")
    missing = [name for name in EVENT_FIELDS if name not in payload]
    if missing:
        raise EventValidationError(missing[0], None, "is required")
    category = _text(payload, "merchant_category")
    if category not in _CATEGORY_SET:
        raise EventValidationError("merchant_category", category, "is not a known merchant category")
    return TransactionEvent(
        request_id=_text(payload, "request_id"),
        customer_id=_text(payload, "customer_id"),
        terminal_id=_text(payload, "terminal_id"),
        merchant_category=category,
        amount=_number(payload, "amount", 0.0, MAX_AMOUNT),
        timestamp_ms=parse_timestamp_ms(payload["timestamp"]),
        device_id=_text(payload, "device_id"),
        distance_from_home=_number(payload, "distance_from_home", 0.0, 40_100.0),
    )
