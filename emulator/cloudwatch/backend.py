"""CloudWatch state and semantics, no HTTP: stored datapoints, statistics over them, alarms on a timer."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from emulator.cloudwatch.alarms import Alarms
from emulator.cloudwatch.metrics import Datapoint, Dimensions, MetricId, MetricStore
from emulator.state import Database

log = logging.getLogger(__name__)

TICK_S = 0.25  # how often due alarms are looked for
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True)
class StatisticsPoint:
    timestamp: float  # the start of its period
    unit: str
    values: dict[str, float]  # by statistic name; a statistic that cannot be computed is left out


class CloudWatchBackend:
    def __init__(self, db: Database, region: str = "us-east-1") -> None:
        self.metrics = MetricStore(db)
        self.alarms = Alarms(db, self.metrics, region)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloudwatch-alarms", daemon=True)

    # ---- metrics -------------------------------------------------------------------------------------

    def put_metric_data(self, datapoints: list[Datapoint]) -> None:
        self.metrics.put(datapoints)

    def statistics(
        self, metric: MetricId, unit: str | None, start: float, end: float, period: int, names: list[str]
    ) -> list[StatisticsPoint]:
        """The `names` statistics per `period` in [start, end), oldest first; periods without data are
        left out."""
        points = []
        for bucket, (aggregate, bucket_unit) in sorted(
            self.metrics.buckets(metric, start, end, period, unit).items()
        ):
            values = {name: value for name in names if (value := aggregate.statistic(name)) is not None}
            points.append(StatisticsPoint(bucket, bucket_unit, values))
        return points

    def series(
        self,
        metric: MetricId,
        unit: str | None,
        start: float,
        end: float,
        period: int,
        statistic: str,
        newest_first: bool,
    ) -> list[tuple[float, float]]:
        """(period start, value) of one statistic, for GetMetricData."""
        return sorted(
            (
                (point.timestamp, point.values[statistic])
                for point in self.statistics(metric, unit, start, end, period, [statistic])
                if statistic in point.values
            ),
            reverse=newest_first,
        )

    def list_metrics(
        self, namespace: str | None, name: str | None, dimensions: list[tuple[str, str | None]]
    ) -> list[MetricId]:
        """Metrics that have every dimension in `dimensions`, with that value unless it is None."""

        def matches(present: Dimensions) -> bool:
            values = dict(present)
            return all(key in values and value in (None, values[key]) for key, value in dimensions)

        return [m for m in self.metrics.list_metrics(namespace, name) if matches(m.dimensions)]

    # ---- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        next_prune = 0.0
        while not self._stopped.wait(TICK_S):
            try:
                self.alarms.evaluate_due()
                if time.monotonic() >= next_prune:
                    self.metrics.prune()
                    next_prune = time.monotonic() + PRUNE_EVERY_S
            except Exception:
                log.exception("CloudWatch alarm evaluation failed")

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
