"""Counters of one event-source mapping, for the debug endpoint (the IteratorAge metric itself is
published per invocation by emulator.lambda_.metrics)."""

from __future__ import annotations

import threading
import time

COUNTERS = (
    "records_read",
    "records_filtered",
    "batches",
    "invocations",
    "failed_invocations",
    "retries",
    "records_sent_to_destination",
    "records_dropped",
)


class MappingStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._iterator_age_ms: dict[str, int] = {}  # per shard
        self.last_result = "No records processed"

    def add(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[counter] += amount

    def read(self, shard_id: str, newest_arrival: float | None) -> None:
        """After each shard read: age of the newest record returned, 0 when the shard is caught up."""
        age = 0 if newest_arrival is None else max(0, int((time.time() - newest_arrival) * 1000))
        with self._lock:
            self._iterator_age_ms[shard_id] = age

    def snapshot(self) -> dict:
        with self._lock:
            return {
                **self._counts,
                "iterator_age_ms": max(self._iterator_age_ms.values(), default=0),
                "iterator_age_ms_by_shard": dict(self._iterator_age_ms),
                "last_processing_result": self.last_result,
            }
