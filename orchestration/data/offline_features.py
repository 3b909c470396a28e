"""The shared feature definitions (serving/features.py) computed over a whole history at once.

Vectorised with numpy: every windowed aggregate is a searchsorted over a (entity, time) key, so the
cost is a few sorts, not a loop over events. The canonical event order is (timestamp_ms, request_id);
the online path sees events in that order, which is what makes the two agree.

The online state's caps hold here too: a customer window starts no earlier than MAX_EVENTS_KEPT
events back, and a device counts as seen only if the customer's last use of it is within
HISTORY_DAYS and among the MAX_DEVICES most recently used. That last rule needs a loop, but only over
customers with more than MAX_DEVICES distinct devices: below that, nothing is ever evicted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving import features
from serving.features import (
    CUSTOMER_WINDOWS_DAYS,
    FEATURE_NAMES,
    HISTORY_MS,
    MS_PER_DAY,
    NO_PREVIOUS,
    TERMINAL_WINDOWS_DAYS,
    is_night,
    is_weekend,
)
from serving.schemas import MERCHANT_CATEGORIES

_TIME_BITS = 37  # ~4 years of milliseconds relative to the first event


def canonical_order(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["timestamp_ms", "request_id"], kind="stable").reset_index(drop=True)


def _grouped(entity: pd.Series, ts_rel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order events by (entity, time); return the order, the sorted keys and each row's entity code."""
    codes = pd.factorize(entity)[0].astype(np.int64)
    order = np.lexsort((np.arange(len(codes)), ts_rel, codes))  # ties keep canonical order
    keys = (codes[order] << _TIME_BITS) | ts_rel[order]
    return order, keys, codes[order]


def _window_start_index(keys: np.ndarray, codes: np.ndarray, ts: np.ndarray, window_ms: int) -> np.ndarray:
    start = np.maximum(ts - window_ms, 0)
    return np.searchsorted(keys, (codes << _TIME_BITS) | start, side="left")


def _customer_block(events: pd.DataFrame, ts_rel: np.ndarray) -> dict[str, np.ndarray]:
    order, keys, codes = _grouped(events["customer_id"], ts_rel)
    ts = ts_rel[order]
    amounts = events["amount"].to_numpy(np.float64)[order]
    positions = np.arange(len(order))
    amount_cumsum = np.concatenate([[0.0], np.cumsum(amounts)])
    first_of_group = np.r_[True, codes[1:] != codes[:-1]]

    out: dict[str, np.ndarray] = {}
    since_last = np.where(first_of_group, NO_PREVIOUS, np.diff(ts, prepend=0) / 1000.0)
    out["time_since_last_s"] = since_last
    oldest_kept = positions - features.MAX_EVENTS_KEPT  # read now: tests lower the caps
    for w in CUSTOMER_WINDOWS_DAYS:
        start = np.maximum(_window_start_index(keys, codes, ts, w * MS_PER_DAY), oldest_kept)
        count = positions - start
        total = amount_cumsum[positions] - amount_cumsum[start]
        mean = np.divide(total, count, out=np.zeros(len(count)), where=count > 0)
        out[f"cust_count_{w}d"] = count.astype(np.float64)
        out[f"cust_mean_amount_{w}d"] = mean
    mean_30d = out["cust_mean_amount_30d"]
    out["amount_over_cust_mean_30d"] = np.divide(
        amounts, mean_30d, out=np.full(len(amounts), NO_PREVIOUS), where=mean_30d > 0
    )
    out["device_seen_before"] = _device_seen_before(codes, events["device_id"].to_numpy()[order], ts)
    return _unsort(out, order)


def _device_seen_before(codes: np.ndarray, devices: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """1.0 where the customer's previous use of the device is within HISTORY_MS and the device is
    still among its MAX_DEVICES most recently used; rows are in (customer, time) order."""
    n = len(codes)
    if n == 0:
        return np.zeros(0)
    device_codes = pd.factorize(devices)[0]
    by_pair = np.lexsort((np.arange(n), device_codes, codes))  # (customer, device, time)
    pair_codes, pair_devices = codes[by_pair], device_codes[by_pair]
    repeat = (pair_codes[1:] == pair_codes[:-1]) & (pair_devices[1:] == pair_devices[:-1])
    later, earlier = by_pair[1:][repeat], by_pair[:-1][repeat]
    seen = np.zeros(n, dtype=bool)
    seen[later] = ts[earlier] >= ts[later] - HISTORY_MS

    max_devices = features.MAX_DEVICES
    distinct = np.bincount(pair_codes[np.r_[True, ~repeat]], minlength=int(codes.max(initial=-1)) + 1)
    for customer in np.flatnonzero(distinct > max_devices):
        # Replay the online LRU. Its age expiry needs no replaying: an expired device fails the check
        # above, and the expired ones are always the least recently seen, so dropping them never
        # changes which of the others the count cap keeps.
        lo, hi = np.searchsorted(codes, [customer, customer + 1])
        recent: dict[int, None] = {}
        for row, device in enumerate(device_codes[lo:hi].tolist(), start=lo):
            if device in recent:
                del recent[device]
            else:
                seen[row] = False
            recent[device] = None
            if len(recent) > max_devices:
                del recent[next(iter(recent))]
    return seen.astype(np.float64)


def _terminal_block(
    events: pd.DataFrame, ts_rel: np.ndarray, day_offset: int, fraud_known_rel: np.ndarray
) -> dict[str, np.ndarray]:
    """Terminal counts over whole previous days; fraud_known_rel is -1 for events that are not fraud.

    `day_offset` is origin % MS_PER_DAY, so (ts_rel + day_offset) // MS_PER_DAY is the UTC day.
    """
    order, keys, codes = _grouped(events["terminal_id"], ts_rel)
    ts = ts_rel[order]
    known = fraud_known_rel[order]
    day_start = (ts + day_offset) // MS_PER_DAY * MS_PER_DAY - day_offset  # relative ms of 00:00 UTC
    fraud_rows = np.flatnonzero(known >= 0)

    out: dict[str, np.ndarray] = {}
    for w in TERMINAL_WINDOWS_DAYS:
        window_ms = w * MS_PER_DAY
        first = _window_start_index(keys, codes, day_start, window_ms)
        last = np.searchsorted(keys, (codes << _TIME_BITS) | np.maximum(day_start, 0), side="left")
        count = last - first
        # A fraud on day f, known at k, counts for later events at its terminal on days f+1 .. f+w
        # that happen at or after k.
        fraud_codes = codes[fraud_rows] << _TIME_BITS
        next_day = day_start[fraud_rows] + MS_PER_DAY
        lo = np.searchsorted(keys, fraud_codes | np.maximum(known[fraud_rows], next_day), side="left")
        hi = np.searchsorted(keys, fraud_codes | (next_day + window_ms), side="left")
        valid = lo < hi
        delta = np.zeros(len(order) + 1, dtype=np.int64)
        np.add.at(delta, lo[valid], 1)
        np.add.at(delta, hi[valid], -1)
        frauds = np.cumsum(delta[:-1])
        out[f"term_count_{w}d"] = count.astype(np.float64)
        out[f"term_fraud_rate_{w}d"] = np.divide(frauds, count, out=np.zeros(len(count)), where=count > 0)
    return _unsort(out, order)


def _unsort(columns: dict[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray]:
    restored = {}
    for name, values in columns.items():
        back = np.empty_like(values)
        back[order] = values
        restored[name] = back
    return restored


def compute_offline_features(events: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Feature table (request_id, timestamp_ms, FEATURE_NAMES...) in canonical event order.

    `labels` needs request_id, is_fraud and label_available_ms; only labels known by each event's
    time contribute to terminal fraud rates.
    """
    events = canonical_order(events)
    ts_ms = events["timestamp_ms"].to_numpy(np.int64)
    origin = int(ts_ms.min()) if len(ts_ms) else 0
    ts_rel = ts_ms - origin

    fraud = labels.loc[labels["is_fraud"].astype(bool), ["request_id", "label_available_ms"]]
    known_ms = events["request_id"].map(fraud.set_index("request_id")["label_available_ms"])
    fraud_known_rel = np.where(known_ms.isna(), -1, known_ms.fillna(0).to_numpy(np.int64) - origin)

    columns: dict[str, np.ndarray] = {
        "amount": events["amount"].to_numpy(np.float64),
        "distance_from_home": events["distance_from_home"].to_numpy(np.float64),
        "is_night": is_night(ts_ms).astype(np.float64),
        "is_weekend": is_weekend(ts_ms).astype(np.float64),
    }
    columns.update(_customer_block(events, ts_rel))
    columns.update(_terminal_block(events, ts_rel, origin % MS_PER_DAY, fraud_known_rel))
    categories = events["merchant_category"].to_numpy()
    for category in MERCHANT_CATEGORIES:
        columns[f"mcc_{category}"] = (categories == category).astype(np.float64)

    table = pd.DataFrame({name: columns[name] for name in FEATURE_NAMES})
    table.insert(0, "timestamp_ms", ts_ms)
    table.insert(0, "request_id", events["request_id"].to_numpy())
    return table
