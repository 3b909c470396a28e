"""The raw transaction event the stream carries, and its validation.

Validation names the field and the value that was wrong, so a DLQ entry explains itself. Every field
is bounded, so nothing a producer sends can break a write further down the stream path:

| field              | type   | bounds                                                                  |
|--------------------|--------|-------------------------------------------------------------------------|
| request_id         | string | 1..128 characters, valid Unicode (no lone surrogates), not only blanks  |
| customer_id        | string | as request_id; it is the output stream's partition key (Kinesis: 256)   |
| terminal_id        | string | as request_id                                                           |
| device_id          | string | as request_id                                                           |
| merchant_category  | string | one of MERCHANT_CATEGORIES                                              |
| amount             | number | finite, 0 .. 1,000,000, and 0 or at least 0.000001 (JSON true/false    |
|                    |        | are not numbers; DynamoDB cannot store a magnitude below 1e-130)        |
| distance_from_home | number | finite, 0 .. 40,100 km                                                  |
| timestamp          | string | ISO-8601 with a timezone, at most 40 characters, in 2000-01-01 ..       |
|                    |        | 2100-01-01, and at most the allowed clock skew past its arrival         |

128 characters are at most 512 bytes of UTF-8 and 256 UTF-16 code units: within DynamoDB's 2048-byte
key limit (with the state store's two-character prefix) and Kinesis's 256-character partition keys.
The clock-skew bound keeps a far-future event from freezing its customer's online state (every later
event would look like a replay of something already applied).
"""

from __future__ import annotations

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
MIN_NONZERO_AMOUNT = 1e-6
MAX_DISTANCE_KM = 40_100.0  # a little over Earth's circumference
MAX_ID_CHARS = 128
MAX_TIMESTAMP_CHARS = 40
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
DEFAULT_MAX_CLOCK_SKEW_MS = 300_000  # how far past its arrival an event's own time may be

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
        super().__init__(f"field {field!r}: {problem} (got {shown(value)})")


def shown(value: object) -> str:
    """The value as a reason quotes it: its repr, cut short (a reason must not carry a 1 MiB payload)."""
    try:
        return clipped(repr(value))
    except ValueError:  # an integer past Python's digit limit for conversion to text
        return "an integer of more than 4300 digits"


def clipped(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


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


def parse_timestamp_ms(value: object, not_after_ms: int | None = None) -> int:
    """Milliseconds since the epoch; `not_after_ms` is the latest time allowed (arrival + clock skew)."""
    if not isinstance(value, str):
        raise EventValidationError("timestamp", value, "must be an ISO-8601 string")
    if len(value) > MAX_TIMESTAMP_CHARS:
        raise EventValidationError("timestamp", value, f"is longer than {MAX_TIMESTAMP_CHARS} characters")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise EventValidationError("timestamp", value, "is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise EventValidationError("timestamp", value, "must carry a timezone (e.g. a trailing Z)")
    try:
        timestamp_ms = round(moment.timestamp() * 1000)
    except (OverflowError, ValueError):  # e.g. year 1 with a positive offset falls before year 1 in UTC
        timestamp_ms = EARLIEST_MS - 1
    if not EARLIEST_MS <= timestamp_ms < LATEST_MS:
        raise EventValidationError(
            "timestamp",
            value,
            f"must be between {format_timestamp(EARLIEST_MS)} and {format_timestamp(LATEST_MS)}",
        )
    if not_after_ms is not None and timestamp_ms > not_after_ms:
        raise EventValidationError(
            "timestamp",
            value,
            f"is after {format_timestamp(not_after_ms)}, its arrival plus the allowed clock skew",
        )
    return timestamp_ms


def _text(payload: dict, field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise EventValidationError(field, value, "must be a non-empty string")
    if len(value) > MAX_ID_CHARS:
        raise EventValidationError(field, value, f"is longer than {MAX_ID_CHARS} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventValidationError(field, value, "is not valid Unicode (a lone surrogate)") from None
    return value


def _number(payload: dict, field: str, low: float, high: float) -> float:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventValidationError(field, value, "must be a number")
    # Compared before any conversion: a 400-digit integer has no float (float() overflows), and NaN
    # compares false both ways.
    if not low <= value <= high:
        raise EventValidationError(field, value, f"must be between {low} and {high}")
    return float(value)


def _amount(payload: dict) -> float:
    amount = _number(payload, "amount", 0.0, MAX_AMOUNT)
    if 0 < amount < MIN_NONZERO_AMOUNT:
        raise EventValidationError("amount", payload["amount"], f"must be 0 or at least {MIN_NONZERO_AMOUNT}")
    return amount


def validate_event(payload: object, not_after_ms: int | None = None) -> TransactionEvent:
    """Turn a decoded JSON object into a TransactionEvent, or raise EventValidationError.

    `not_after_ms` bounds the event's time (its arrival plus the allowed clock skew), when known."""
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
        amount=_amount(payload),
        timestamp_ms=parse_timestamp_ms(payload["timestamp"], not_after_ms),
        device_id=_text(payload, "device_id"),
        distance_from_home=_number(payload, "distance_from_home", 0.0, MAX_DISTANCE_KM),
    )
