"""Feature definitions, written once: names, windows, and the online (one event at a time) computation.

The offline computation over a whole history lives in orchestration/offline_features.py and uses the
constants here; tests/serving/test_feature_parity.py holds the two equal on the same event sequence.

Customer windows are half-open on the past: an event at time t sees the customer's earlier events
with timestamps in [t - window, t). Terminal windows are whole UTC days: an event on day d sees the
terminal's transactions of days [d - window, d). Day buckets make the terminal state a set of
per-day counters that concurrent consumers can increment atomically (a terminal is shared across
shards; a customer is not). Terminal fraud rates count a fraud only once its label is known
(label_available_at <= t), so no feature leaks a label from the future.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from serving.schemas import MERCHANT_CATEGORIES, TransactionEvent

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000
CUSTOMER_WINDOWS_DAYS = (1, 7, 30)
TERMINAL_WINDOWS_DAYS = (7, 30)
HISTORY_DAYS = max(CUSTOMER_WINDOWS_DAYS + TERMINAL_WINDOWS_DAYS)
NO_PREVIOUS = -1.0  # time_since_last_s and ratios when the entity has no history yet

FEATURE_NAMES: tuple[str, ...] = (
    "amount",
    "time_since_last_s",
    "distance_from_home",
    "device_seen_before",
    "is_night",
    "is_weekend",
    *[name for w in CUSTOMER_WINDOWS_DAYS for name in (f"cust_count_{w}d", f"cust_mean_amount_{w}d")],
    "amount_over_cust_mean_30d",
    *[name for w in TERMINAL_WINDOWS_DAYS for name in (f"term_count_{w}d", f"term_fraud_rate_{w}d")],
    *[f"mcc_{category}" for category in MERCHANT_CATEGORIES],
)
_CATEGORY_INDEX = {category: i for i, category in enumerate(MERCHANT_CATEGORIES)}


# The calendar features work on an int or on a numpy array of ints (the offline path).
def is_night(timestamp_ms):
    hour = (timestamp_ms // MS_PER_HOUR) % 24
    return (hour < 6) | (hour >= 22)


def is_weekend(timestamp_ms):
    weekday = (timestamp_ms // MS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return weekday >= 5


@dataclass
class CustomerState:
    """What the online features need to know about one customer.

    Recent amounts are kept as running totals (totals[i] - totals[j] is the sum of amounts j..i-1), so
    every window is two bisects and a subtraction instead of a loop over the history.
    """

    last_ms: int | None = None
    devices: set[str] = field(default_factory=set)
    times_ms: list[int] = field(default_factory=list)  # ordered
    totals: list[float] = field(default_factory=lambda: [0.0])  # len(times_ms) + 1 running sums

    def amounts(self) -> list[float]:
        return [after - before for before, after in zip(self.totals, self.totals[1:], strict=False)]

    def to_dict(self) -> dict:
        return {
            "last_ms": self.last_ms,
            "devices": sorted(self.devices),
            "times_ms": self.times_ms,
            "amounts": self.amounts(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> CustomerState:
        state = cls(
            data.get("last_ms"), set(data.get("devices", [])), [int(ts) for ts in data.get("times_ms", [])]
        )
        for amount in data.get("amounts", []):
            state.totals.append(state.totals[-1] + float(amount))
        if state.last_ms is not None:
            state.last_ms = int(state.last_ms)
        return state


@dataclass
class TerminalState:
    """Per-day transaction counts at a terminal, and per-day counts of its frauds whose labels are known.

    Days are UTC day numbers (timestamp_ms // MS_PER_DAY); a fraud is counted on its transaction's day.
    """

    daily_counts: dict[int, int] = field(default_factory=dict)
    daily_known_frauds: dict[int, int] = field(default_factory=dict)
    # (day, features) for the last day asked: past days' buckets only change when a label arrives
    # or an event comes in late, and both clear it.
    _cached: tuple[int, list[float]] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"daily_counts": self.daily_counts, "daily_known_frauds": self.daily_known_frauds}

    @classmethod
    def from_dict(cls, data: dict) -> TerminalState:
        def days(mapping: dict) -> dict[int, int]:
            return {int(day): int(count) for day, count in mapping.items()}

        return cls(days(data.get("daily_counts", {})), days(data.get("daily_known_frauds", {})))

    def record_fraud_label(self, transaction_ms: int) -> None:
        day = transaction_ms // MS_PER_DAY
        self.daily_known_frauds[day] = self.daily_known_frauds.get(day, 0) + 1
        self._cached = None


def customer_features(state: CustomerState, event: TransactionEvent) -> list[float]:
    t = event.timestamp_ms
    values = [
        NO_PREVIOUS if state.last_ms is None else (t - state.last_ms) / 1000.0,
        1.0 if event.device_id in state.devices else 0.0,
    ]
    times, totals = state.times_ms, state.totals
    end = len(times)
    mean = 0.0
    for w in CUSTOMER_WINDOWS_DAYS:
        first = bisect_left(times, t - w * MS_PER_DAY)
        count = end - first
        mean = (totals[end] - totals[first]) / count if count else 0.0
        values += [float(count), mean]
    values.append(event.amount / mean if mean > 0 else NO_PREVIOUS)  # mean is the last, 30-day window
    return values


def terminal_features(state: TerminalState, t: int) -> list[float]:
    today = t // MS_PER_DAY
    if state._cached is not None and state._cached[0] == today:
        return state._cached[1]
    values = []
    counts, frauds = state.daily_counts, state.daily_known_frauds
    for w in TERMINAL_WINDOWS_DAYS:
        count = sum(counts.get(day, 0) for day in range(today - w, today))
        known = sum(frauds.get(day, 0) for day in range(today - w, today)) if frauds else 0
        values += [float(count), known / count if count else 0.0]
    state._cached = (today, values)
    return values


def update_customer(state: CustomerState, event: TransactionEvent) -> None:
    t = event.timestamp_ms
    state.last_ms = t
    state.devices.add(event.device_id)
    state.times_ms.append(t)
    state.totals.append(state.totals[-1] + event.amount)
    horizon = t - HISTORY_DAYS * MS_PER_DAY
    if state.times_ms[0] < horizon:
        expired = bisect_left(state.times_ms, horizon)
        del state.times_ms[:expired]
        del state.totals[:expired]


def update_terminal(state: TerminalState, t: int) -> None:
    day = t // MS_PER_DAY
    state.daily_counts[day] = state.daily_counts.get(day, 0) + 1
    if state._cached is not None and day < state._cached[0]:
        state._cached = None  # a late event changed a day the cached windows cover
    if len(state.daily_counts) > HISTORY_DAYS + 1:
        for old in [old for old in state.daily_counts if old < day - HISTORY_DAYS]:
            del state.daily_counts[old]
            state.daily_known_frauds.pop(old, None)


def online_features(event: TransactionEvent, customer: CustomerState, terminal: TerminalState) -> list[float]:
    """The feature vector for one event, from the entity states as they were before it."""
    t = event.timestamp_ms
    customer_part = customer_features(customer, event)
    one_hot = [0.0] * len(MERCHANT_CATEGORIES)
    one_hot[_CATEGORY_INDEX[event.merchant_category]] = 1.0
    return [
        event.amount,
        customer_part[0],
        event.distance_from_home,
        customer_part[1],
        float(is_night(t)),
        float(is_weekend(t)),
        *customer_part[2:],
        *terminal_features(terminal, t),
        *one_hot,
    ]


class InMemoryFeatureState:
    """Per-entity state held in process; the consumer backs the same shapes with DynamoDB."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerState] = {}
        self.terminals: dict[str, TerminalState] = {}

    def terminal(self, terminal_id: str) -> TerminalState:
        state = self.terminals.get(terminal_id)
        if state is None:
            state = self.terminals[terminal_id] = TerminalState()
        return state

    def customer(self, customer_id: str) -> CustomerState:
        state = self.customers.get(customer_id)
        if state is None:
            state = self.customers[customer_id] = CustomerState()
        return state

    def process(self, event: TransactionEvent) -> list[float]:
        """Features for the event, then fold the event into the state."""
        customer = self.customer(event.customer_id)
        terminal = self.terminal(event.terminal_id)
        vector = online_features(event, customer, terminal)
        update_customer(customer, event)
        update_terminal(terminal, event.timestamp_ms)
        return vector
