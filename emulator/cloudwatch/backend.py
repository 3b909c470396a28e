"""CloudWatch state and semantics, no HTTP: PutMetricData, statistics queries, alarms on a timer."""

from __future__ import annotations

import logging
import threading
import time

from emulator.cloudwatch.alarms import Alarms
from emulator.cloudwatch.metrics import Datapoint, MetricStore, dimensions_json, dimensions_key
from emulator.cloudwatch.statistics import check_statistic, is_percentile
from emulator.protocol.errors import validation_exception
from emulator.protocol.pagination import paginate
from emulator.state import Database

log = logging.getLogger(__name__)

TICK_S = 0.25  # how often due alarms are looked for
PRUNE_EVERY_S = 60.0
MAX_DATUMS = 1000
MAX_DIMENSIONS = 30
MAX_DATAPOINTS_PER_QUERY = 1440  # GetMetricStatistics' limit per call


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise validation_exception(f"The value {value!r} for parameter {field} must be a number")
    return float(value)


def _datapoint(namespace: str, datum: dict, index: int, now: float) -> Datapoint:
    where = f"MetricData.member.{index}"
    if not datum.get("MetricName"):
        raise validation_exception(f"The parameter {where}.MetricName is required")
    dimensions = datum.get("Dimensions") or []
    if len(dimensions) > MAX_DIMENSIONS:
        raise validation_exception(f"{where}.Dimensions has {len(dimensions)} entries; the maximum is 30")
    for d in dimensions:
        if not d.get("Name") or "Value" not in d:
            raise validation_exception(f"{where}.Dimensions entries need a Name and a Value, got {d!r}")
    given = [key for key in ("Value", "Values", "StatisticValues") if key in datum]
    if len(given) != 1:
        raise validation_exception(
            f"{where} must have exactly one of Value, Values, StatisticValues; got {given}"
        )
    if "Value" in datum:
        value = _number(datum["Value"], f"{where}.Value")
        stats, samples = (1.0, value, value, value), (value,)
    elif "Values" in datum:
        values = [_number(v, f"{where}.Values") for v in datum["Values"]]
        counts = [_number(c, f"{where}.Counts") for c in datum.get("Counts") or [1.0] * len(values)]
        if not values or len(counts) != len(values):
            raise validation_exception(f"{where}: Values must be non-empty and Counts, if given, as long")
        stats = (
            sum(counts),
            sum(v * c for v, c in zip(values, counts, strict=True)),
            min(values),
            max(values),
        )
        samples = tuple(v for v, c in zip(values, counts, strict=True) for _ in range(max(1, round(c))))
    else:
        sv = datum["StatisticValues"]
        fields = ("SampleCount", "Sum", "Minimum", "Maximum")
        stats = tuple(_number(sv.get(f), f"{where}.StatisticValues.{f}") for f in fields)
        samples = ()
    return Datapoint(
        namespace,
        datum["MetricName"],
        dimensions_key(dimensions),
        float(datum.get("Timestamp") or now),
        datum.get("Unit", "None"),
        *stats,
        samples,
    )


class CloudWatchBackend:
    def __init__(self, db: Database, region: str = "us-east-1") -> None:
        self.metrics = MetricStore(db)
        self.alarms = Alarms(db, self.metrics, region)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloudwatch-alarms", daemon=True)

    # ---- metrics -------------------------------------------------------------------------------------

    def put_metric_data(self, params: dict) -> dict:
        namespace = params.get("Namespace") or ""
        if not namespace or namespace.startswith("AWS/"):
            raise validation_exception(
                f"The value {namespace!r} for parameter Namespace is invalid: it is required and must not "
                "start with the reserved prefix AWS/"
            )
        data = params.get("MetricData") or []
        if not 1 <= len(data) <= MAX_DATUMS:
            raise validation_exception(f"MetricData must have 1 to {MAX_DATUMS} members, got {len(data)}")
        now = time.time()
        self.metrics.put([_datapoint(namespace, datum, i, now) for i, datum in enumerate(data, start=1)])
        return {}

    def get_metric_statistics(self, params: dict) -> dict:
        for field in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
            if params.get(field) is None:
                raise validation_exception(f"The parameter {field} is required")
        statistics = [check_statistic(s, "Statistics") for s in params.get("Statistics") or []]
        extended = [check_statistic(s, "ExtendedStatistics") for s in params.get("ExtendedStatistics") or []]
        if not statistics and not extended:
            raise validation_exception("At least one of Statistics and ExtendedStatistics is required")
        if any(is_percentile(s) for s in statistics) or not all(is_percentile(s) for s in extended):
            raise validation_exception("Percentiles go in ExtendedStatistics, the others in Statistics")
        start, end, period = float(params["StartTime"]), float(params["EndTime"]), int(params["Period"])
        self._check_range(start, end, period)
        buckets = self.metrics.buckets(
            params["Namespace"],
            params["MetricName"],
            dimensions_key(params.get("Dimensions")),
            start,
            end,
            period,
            params.get("Unit"),
        )
        datapoints = []
        for bucket, (aggregate, unit) in sorted(buckets.items()):
            point: dict = {"Timestamp": bucket, "Unit": unit}
            for name in statistics:
                point[name] = aggregate.statistic(name)
            if extended:
                point["ExtendedStatistics"] = {
                    name: value for name in extended if (value := aggregate.statistic(name)) is not None
                }
            datapoints.append({k: v for k, v in point.items() if v is not None})
        return {"Label": params["MetricName"], "Datapoints": datapoints}

    def get_metric_data(self, params: dict) -> dict:
        queries = params.get("MetricDataQueries") or []
        if not queries or params.get("StartTime") is None or params.get("EndTime") is None:
            raise validation_exception("MetricDataQueries, StartTime and EndTime are required")
        start, end = float(params["StartTime"]), float(params["EndTime"])
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for i, query in enumerate(queries, start=1):
            stat = query.get("MetricStat")
            if not stat:
                raise validation_exception(
                    f"MetricDataQueries.member.{i} ({query.get('Id')!r}): only MetricStat queries are "
                    "emulated, not Expression"
                )
            metric, period = stat["Metric"], int(stat["Period"])
            name = check_statistic(stat.get("Stat"), f"MetricDataQueries.member.{i}.MetricStat.Stat")
            self._check_range(start, end, period)
            buckets = self.metrics.buckets(
                metric["Namespace"],
                metric["MetricName"],
                dimensions_key(metric.get("Dimensions")),
                start,
                end,
                period,
                stat.get("Unit"),
            )
            points = sorted(
                ((b, value) for b, (agg, _) in buckets.items() if (value := agg.statistic(name)) is not None),
                reverse=descending,
            )
            if query.get("ReturnData", True):
                results.append(
                    {
                        "Id": query["Id"],
                        "Label": query.get("Label", metric["MetricName"]),
                        "Timestamps": [b for b, _ in points],
                        "Values": [v for _, v in points],
                        "StatusCode": "Complete",
                    }
                )
        return {"MetricDataResults": results, "Messages": []}

    def list_metrics(self, params: dict) -> dict:
        wanted = params.get("Dimensions") or []
        metrics = []
        for namespace, name, dims in self.metrics.list_metrics(
            params.get("Namespace"), params.get("MetricName")
        ):
            present = dict(dims)
            if all(
                d["Name"] in present and d.get("Value", present[d["Name"]]) == present[d["Name"]]
                for d in wanted
            ):
                metrics.append(
                    {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions_json(dims)}
                )
        return {"Metrics": metrics}

    @staticmethod
    def _check_range(start: float, end: float, period: int) -> None:
        if period < 1:
            raise validation_exception(f"The value {period} for parameter Period must be >= 1")
        if end <= start:
            raise validation_exception("The parameter StartTime must be less than the parameter EndTime")
        if (end - start) / period > MAX_DATAPOINTS_PER_QUERY:
            raise validation_exception(
                f"You have requested up to {int((end - start) / period)} datapoints, which exceeds the limit "
                f"of {MAX_DATAPOINTS_PER_QUERY}. You may reduce the datapoints requested by increasing "
                "Period, or decreasing the time range."
            )

    # ---- alarms --------------------------------------------------------------------------------------

    def describe_alarms(self, params: dict) -> dict:
        alarms = self.alarms.describe(
            params.get("AlarmNames"), params.get("AlarmNamePrefix"), params.get("StateValue")
        )
        page = paginate(alarms, "MetricAlarms", params.get("NextToken"), int(params.get("MaxRecords") or 50))
        return {**page, "CompositeAlarms": []}

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
