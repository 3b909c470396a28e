"""Feature definitions, written once: names, windows, and the online (one event at a time) computation.

The offline computation over a whole history lives in orchestration/data/offline_features.py and uses
the constants here; tests/serving/test_features.py holds the two equal on the same event sequence.

Customer windows are half-open on the past: an event at time t sees the customer's earlier events
with timestamps in [t - window, t). Terminal windows are whole UTC days: an event on day d sees the
terminal's transactions of days [d - window, d). Day buckets make the terminal state a set of
per-day counters that concurrent consumers can increment atomically (a terminal is shared across
shards; a customer is not). Terminal fraud rates count a fraud only once its label is known
(label_available_at <= t), so no feature leaks a label from the future.

Customer state is bounded, because it is one DynamoDB item and an item over 400 KB can never be
written again (every later event of that customer would fail to persist):

- events: the MAX_EVENTS_KEPT most recent ones within HISTORY_DAYS; the customer windows count and
  average over the kept events only, so a customer busier than that sees its counts saturate.
- devices: device -> last seen, at most MAX_DEVICES, the least recently seen evicted first; a device
  not seen for HISTORY_DAYS is forgotten. device_seen_before is 1 when the customer used the device in
  [t - HISTORY_DAYS, t) and it is among the kept devices.

Worst case of the stored item (serving/consumer/state_store.customer_item: pk, one attribute holding
the applied-through marker and the packed state of CustomerState.to_bytes, the TTL), with ids of 256
characters (twice the schema's MAX_ID_CHARS) that are all outside the Basic Multilingual Plane, so
1,024 bytes of UTF-8 each:

    header   version, has-last, last_ms, first time, two counts      =               26 B
    devices  32 x (uint32 seen offset + uint16 length + 1,024 B id)  = 32 x 1,030  = 32,960 B
    events   4,000 x (uint32 time offset + float64 amount)           = 4,000 x 12  = 48,000 B
    rest     pk (1,030 B), the marker (11 B + a 1,024 B request id), the TTL, names <  2,200 B
    total                                                                          <  83,200 B

which is about 20 % of DynamoDB's 409,600-byte limit (the previous release's JSON text took up to
253,100 B, 62 %). A typical simulated customer (46 events, 3 devices) takes 738 B instead of 1,708 B:
one write capacity unit instead of two.
tests/serving/consumer/test_state_store.py builds that item and measures it.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import sub

from serving.schemas import MERCHANT_CATEGORIES, TransactionEvent

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000
CUSTOMER_WINDOWS_DAYS = (1, 7, 30)
TERMINAL_WINDOWS_DAYS = (7, 30)
HISTORY_DAYS = max(CUSTOMER_WINDOWS_DAYS + TERMINAL_WINDOWS_DAYS)
HISTORY_MS = HISTORY_DAYS * MS_PER_DAY
# The caps on one customer's state (see the module docstring for the item size they bound). Read at
# call time, here and offline, so a test can lower them for both paths at once.
MAX_EVENTS_KEPT = 4_000
MAX_DEVICES = 32
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


# The packed customer state: version, whether last_ms is set, last_ms, the first kept time, the number
# of devices and of events; then each device's last-seen time as uint32 ms before last_ms, each
# event's time as uint32 ms after the first (update_customer keeps them within HISTORY_MS, well
# under 2**32 ms), each amount as a float64, and each device id as a uint16 length and UTF-8.
PACKED_VERSION = 1
_PACKED_HEADER = struct.Struct("<B?QQII")
_DEVICE_LENGTH = struct.Struct("<H")


@dataclass
class CustomerState:
    """What the online features need to know about one customer.

    Recent amounts are kept as running totals (totals[i] - totals[j] is the sum of amounts j..i-1), so
    every window is two bisects and a subtraction instead of a loop over the history. `devices` maps a
    device to when it was last seen, in the order last seen (oldest first): the front is what ages
    out or is evicted.
    """

    last_ms: int | None = None
    devices: dict[str, int] = field(default_factory=dict)
    times_ms: list[int] = field(default_factory=list)  # ordered
    totals: list[float] = field(default_factory=lambda: [0.0])  # len(times_ms) + 1 running sums

    def amounts(self) -> list[float]:
        return list(map(sub, self.totals[1:], self.totals))

    def to_dict(self) -> dict:
        return {
            "last_ms": self.last_ms,
            "devices": dict(self.devices),  # a JSON object keeps its order, and the order is the LRU's
            "times_ms": self.times_ms,
            "amounts": self.amounts(),
        }

    def to_bytes(self) -> bytes:
        """The packed form the state store keeps (PACKED_VERSION; see _PACKED_HEADER)."""
        # map over operator functions rather than comprehensions: this runs for every customer of
        # every batch.
        times, devices = self.times_ms, self.devices
        base = times[0] if times else 0
        last = self.last_ms if self.last_ms is not None else 0
        try:
            numbers = struct.pack(
                f"<{len(devices)}I{len(times)}I{len(times)}d",
                *map(last.__sub__, devices.values()),
                *map(sub, times, repeat(base)),
                *self.amounts(),
            )
        except struct.error:
            raise ValueError(
                f"times span more than uint32 milliseconds (last_ms {self.last_ms}, first {base})"
            ) from None
        parts = [
            _PACKED_HEADER.pack(
                PACKED_VERSION, self.last_ms is not None, last, base, len(devices), len(times)
            ),
            numbers,
        ]
        for device in devices:
            encoded = device.encode("utf-8")
            parts += [_DEVICE_LENGTH.pack(len(encoded)), encoded]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        if not data or data[0] != PACKED_VERSION:
            raise ValueError(f"packed state has version {data[:1].hex() or 'none'}, not {PACKED_VERSION}")
        _, has_last, last, base, n_devices, n_times = _PACKED_HEADER.unpack_from(data)
        at = _PACKED_HEADER.size
        numbers = struct.unpack_from(f"<{n_devices}I{n_times}I{n_times}d", data, at)
        at += 4 * n_devices + 12 * n_times
        names = []
        for _ in range(n_devices):
            (length,) = _DEVICE_LENGTH.unpack_from(data, at)
            at += _DEVICE_LENGTH.size
            names.append(data[at : at + length].decode("utf-8"))
            at += length
        if at != len(data):
            raise ValueError(f"packed state is {len(data)} bytes, its contents {at}")
        # The caps apply from the first load, as for from_dict.
        keep, kept_devices = min(n_times, MAX_EVENTS_KEPT), min(n_devices, MAX_DEVICES)
        gaps = numbers[n_devices - kept_devices : n_devices]
        state = cls(
            last if has_last else None,
            dict(zip(names[n_devices - kept_devices :], map(last.__sub__, gaps), strict=True)),
            list(map(base.__add__, numbers[n_devices + n_times - keep : n_devices + n_times])),
        )
        state.totals = list(accumulate(numbers[len(numbers) - keep :], initial=0.0))
        return state

    @classmethod
    def from_dict(cls, data: dict) -> CustomerState:
        last_ms = data.get("last_ms")
        last_ms = None if last_ms is None else int(last_ms)
        devices = data.get("devices", {})
        if isinstance(devices, list):
            # Written before devices had times (a sorted list): take them as seen at the last event.
            devices = dict.fromkeys(devices, last_ms or 0)
        elif not isinstance(devices, dict):
            raise ValueError(f"devices must be a list or an object, not {type(devices).__name__}")
        # Items written before the caps may hold more; the caps apply from the first load.
        state = cls(last_ms, {device: int(seen) for device, seen in list(devices.items())[-MAX_DEVICES:]})
        times, amounts = data.get("times_ms", []), data.get("amounts", [])
        if len(times) != len(amounts):
            raise ValueError(f"{len(times)} times_ms but {len(amounts)} amounts")
        state.times_ms = [int(ts) for ts in times[-MAX_EVENTS_KEPT:]]
        for amount in amounts[len(amounts) - len(state.times_ms) :]:
            state.totals.append(state.totals[-1] + float(amount))
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
    seen = state.devices.get(event.device_id)
    values = [
        NO_PREVIOUS if state.last_ms is None else (t - state.last_ms) / 1000.0,
        0.0 if seen is None or seen < t - HISTORY_MS else 1.0,
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
    devices, device = state.devices, event.device_id
    devices.pop(device, None)  # re-inserted at the end: the most recently seen
    devices[device] = t
    if len(devices) > MAX_DEVICES:
        del devices[next(iter(devices))]
    times, totals = state.times_ms, state.totals
    times.append(t)
    totals.append(totals[-1] + event.amount)
    horizon = t - HISTORY_MS
    if len(times) > MAX_EVENTS_KEPT:
        del times[0]
        del totals[0]
    if times[0] < horizon:
        expired = bisect_left(times, horizon)
        del times[:expired]
        del totals[:expired]
    if len(devices) > 1 and next(iter(devices.values())) < horizon:  # one device: the one just seen
        for old in [old for old, seen in devices.items() if seen < horizon]:
            del devices[old]


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
