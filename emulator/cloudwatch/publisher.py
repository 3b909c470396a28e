"""The metrics AWS services publish about themselves (AWS/Kinesis, AWS/DynamoDB, AWS/S3, AWS/SQS), as the
emulated services see their requests.

A request only adds its sample to a per-(metric, second) aggregate in memory under one uncontended lock;
one background thread writes finished seconds to CloudWatch's store, so no request waits on SQLite.
Each `add` is one sample: SampleCount counts them, Sum adds their values (as on AWS, where e.g. one
PutRecords call is one IncomingRecords sample whose value is its record count).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from emulator.cloudwatch.metrics import Datapoint, Dimensions, MetricStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5


@dataclass
class _Aggregate:
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


_Key = tuple[str, str, Dimensions, str, int]  # namespace, name, dimensions, unit, second


class MetricPublisher:
    def __init__(self, store: MetricStore, clock=time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[_Key, _Aggregate] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-metrics", daemon=True)

    def add(self, namespace: str, name: str, dimensions: Dimensions, unit: str, value: float) -> None:
        """One sample, timestamped now; `dimensions` as (name, value) pairs in any order."""
        key = (namespace, name, tuple(sorted(dimensions)), unit, int(self._clock()))
        with self._lock:
            aggregate = self._pending.get(key)
            if aggregate is None:
                aggregate = self._pending[key] = _Aggregate()
            aggregate.add(value)

    def flush(self, before: float = math.inf) -> None:
        """Write every aggregated second earlier than `before` (all of them by default)."""
        with self._lock:
            done = {key: a for key, a in self._pending.items() if key[4] < before}
            for key in done:
                del self._pending[key]
        points = [
            Datapoint(namespace, name, dims, at, unit, a.count, a.total, a.minimum, a.maximum)
            for (namespace, name, dims, unit, at), a in done.items()
        ]
        try:
            self._store.put(points)
        except Exception:
            log.exception("could not store %d service metric datapoints", len(points))

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(FLUSH_INTERVAL_S):
            self.flush(before=int(self._clock()))

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
