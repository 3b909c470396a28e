"""AWS/SageMaker per-variant invocation metrics, aggregated in memory per second and flushed in bulk.

The invoke path only adds to a per-(endpoint, variant, second) aggregate under an uncontended lock;
a background thread writes finished seconds to CloudWatch's store once a second, so no request
waits on SQLite.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

from emulator.cloudwatch.metrics import Datapoint, MetricStore

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"
FLUSH_INTERVAL_S = 1.0
_COUNTERS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors")
_LATENCIES = ("ModelLatency", "OverheadLatency")


@dataclass
class _Second:
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    latencies: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in _LATENCIES})


class InvocationMetrics:
    def __init__(self, store: MetricStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, int], _Second] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sagemaker-metrics", daemon=True)

    def record(
        self,
        endpoint: str,
        variant: str,
        model_status: int | None,
        model_latency_us: float,
        overhead_us: float,
    ) -> None:
        """One call that reached a variant; `model_status` is the container's HTTP status, None when it
        did not answer (counted as a 5XX model error, as SageMaker does)."""
        failed = model_status is None or model_status >= 500
        with self._lock:
            second = self._pending.setdefault((endpoint, variant, int(time.time())), _Second())
            counters = second.counters
            counters["Invocations"] += 1
            counters["Invocation4XXErrors"] += model_status is not None and 400 <= model_status < 500
            counters["Invocation5XXErrors"] += failed
            counters["InvocationModelErrors"] += failed or model_status >= 400
            second.latencies["ModelLatency"].append(model_latency_us)
            second.latencies["OverheadLatency"].append(overhead_us)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(FLUSH_INTERVAL_S):
            self.flush(before=int(time.time()))

    def flush(self, before: float = math.inf) -> None:
        """Write every aggregated second earlier than `before` (all of them by default)."""
        with self._lock:
            done = {key: s for key, s in self._pending.items() if key[2] < before}
            for key in done:
                del self._pending[key]
        points = []
        for (endpoint, variant, at), second in done.items():
            dimensions = (("EndpointName", endpoint), ("VariantName", variant))
            for name, value in second.counters.items():
                points.append(Datapoint(NAMESPACE, name, dimensions, at, "None", 1, value, value, value))
            for name, samples in second.latencies.items():
                if samples:
                    points.append(
                        Datapoint(
                            NAMESPACE,
                            name,
                            dimensions,
                            at,
                            "Microseconds",
                            len(samples),
                            sum(samples),
                            min(samples),
                            max(samples),
                            tuple(samples),
                        )
                    )
        try:
            self._store.put(points)
        except Exception:
            log.exception("could not store %d SageMaker metric datapoints", len(points))

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
