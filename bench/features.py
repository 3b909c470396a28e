"""Feature computation rates: offline (vectorised, whole history) vs online (one event at a time).

    python -m bench.features [--customers N] [--days N]

Both paths run in this process on the same simulated events; the table prints events/s for each.
Aim: online features at >= 50,000 events/s on one core.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from orchestration.data.offline_features import canonical_order, compute_offline_features
from orchestration.data.simulation import SimulationConfig, simulate
from serving.features import InMemoryFeatureState
from serving.schemas import EVENT_FIELDS, format_timestamp, validate_event


def _best_of(repeats: int, work) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--days", type=int, default=56)
    args = parser.parse_args()
    events, labels = simulate(SimulationConfig(n_customers=args.customers, n_days=args.days))
    ordered = canonical_order(events)
    fields = [name for name in EVENT_FIELDS if name != "timestamp"]
    records = [
        {**row, "timestamp": format_timestamp(ms)}
        for row, ms in zip(ordered[fields].to_dict("records"), ordered["timestamp_ms"], strict=True)
    ]
    parsed = [validate_event(record) for record in records]
    n = len(parsed)

    offline = _best_of(3, lambda: compute_offline_features(events, labels))

    def online_features_only() -> None:
        state = InMemoryFeatureState()
        for event in parsed:
            state.process(event)

    def online_with_validation() -> None:
        state = InMemoryFeatureState()
        for record in records:
            state.process(validate_event(record))

    online = _best_of(3, online_features_only)
    online_validated = _best_of(3, online_with_validation)

    table = Table(title=f"Feature computation, {n:,} events, one core (best of 3)")
    table.add_column("path")
    table.add_column("seconds", justify="right")
    table.add_column("events/s", justify="right")
    table.add_column("vs online", justify="right")
    for name, seconds in (
        ("online: features from per-entity state (baseline)", online),
        ("online: JSON-shaped dict → validate → features", online_validated),
        ("offline: vectorised over the whole history", offline),
    ):
        table.add_row(name, f"{seconds:.2f}", f"{n / seconds:,.0f}", f"{online / seconds:.1f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
