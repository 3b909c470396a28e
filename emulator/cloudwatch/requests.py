"""CloudWatch requests on the wire, validated with CloudWatch's wording into the backend's typed values.

Bad input gets CloudWatch's modelled codes: InvalidParameterValue, MissingParameter and
InvalidParameterCombination (what `client.exceptions.InvalidParameterValueException` and its siblings
catch), never a generic validation code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from emulator.cloudwatch.alarms import COMPARISONS, STATES, TREAT_MISSING, AlarmDefinition
from emulator.cloudwatch.metrics import Datapoint, Dimensions, MetricId
from emulator.cloudwatch.statistics import check_statistic, is_percentile
from emulator.protocol.errors import AwsError

Params = dict[str, Any]

MAX_DATUMS = 1000
MAX_DIMENSIONS = 30
MAX_DATAPOINTS_PER_QUERY = 1440  # GetMetricStatistics' limit per call


@dataclass(frozen=True)
class StatisticsQuery:
    metric: MetricId
    unit: str | None
    start: float
    end: float
    period: int
    statistics: list[str]
    extended: list[str]  # percentiles


@dataclass(frozen=True)
class DataQuery:
    """One MetricStat query of GetMetricData."""

    id: str
    label: str
    metric: MetricId
    unit: str | None
    period: int
    statistic: str
    return_data: bool


def invalid_value(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def missing_parameter(message: str) -> AwsError:
    return AwsError("MissingParameter", message)


def invalid_combination(message: str) -> AwsError:
    return AwsError("InvalidParameterCombination", message)


def dimensions_key(dimensions: Iterable[Params] | None) -> Dimensions:
    """A metric's identity ignores dimension order, like CloudWatch's."""
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions or ()))


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_value(f"The value {value!r} for parameter {field} must be a number")
    return float(value)


def _datapoint(namespace: str, datum: Params, index: int, now: float) -> Datapoint:
    where = f"MetricData.member.{index}"
    if not datum.get("MetricName"):
        raise missing_parameter(f"The parameter {where}.MetricName is required")
    dimensions = datum.get("Dimensions") or []
    if len(dimensions) > MAX_DIMENSIONS:
        raise invalid_value(f"{where}.Dimensions has {len(dimensions)} entries; the maximum is 30")
    for d in dimensions:
        if not d.get("Name") or "Value" not in d:
            raise missing_parameter(f"{where}.Dimensions entries need a Name and a Value, got {d!r}")
    given = [key for key in ("Value", "Values", "StatisticValues") if key in datum]
    if len(given) != 1:
        raise invalid_combination(
            f"{where} must have exactly one of Value, Values, StatisticValues; got {given}"
        )
    if "Value" in datum:
        value = _number(datum["Value"], f"{where}.Value")
        stats, samples = (1.0, value, value, value), (value,)
    elif "Values" in datum:
        values = [_number(v, f"{where}.Values") for v in datum["Values"]]
        counts = [_number(c, f"{where}.Counts") for c in datum.get("Counts") or [1.0] * len(values)]
        if not values or len(counts) != len(values):
            raise invalid_value(f"{where}: Values must be non-empty and Counts, if given, as long")
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


def parse_metric_data(params: Params, now: float) -> list[Datapoint]:
    """PutMetricData's datapoints; a datum without a Timestamp is taken at `now`."""
    namespace = params.get("Namespace") or ""
    if not namespace:
        raise missing_parameter("The parameter Namespace is required")
    if namespace.startswith("AWS/"):
        raise invalid_value(
            f"The value {namespace!r} for parameter Namespace is invalid: it must not start with the "
            "reserved prefix AWS/"
        )
    data = params.get("MetricData") or []
    if not 1 <= len(data) <= MAX_DATUMS:
        raise invalid_value(f"MetricData must have 1 to {MAX_DATUMS} members, got {len(data)}")
    return [_datapoint(namespace, datum, i, now) for i, datum in enumerate(data, start=1)]


def aligned_start(start: float, period: int, now: float) -> float:
    """The start time as CloudWatch rounds it down, which is where the first period begins: to the
    period for high-resolution periods under a minute, else to the whole minute (start less than 15 days
    ago), the 5-minute clock interval (15 to 63 days) or the hour (older)."""
    age = now - start
    if period < 60:
        step = period
    elif age < 15 * 86400:
        step = 60
    elif age < 63 * 86400:
        step = 300
    else:
        step = 3600
    return math.floor(start / step) * step


def _check_range(start: float, end: float, period: int) -> None:
    if period < 1:
        raise invalid_value(f"The value {period} for parameter Period must be >= 1")
    if end <= start:
        raise invalid_value("The parameter StartTime must be less than the parameter EndTime")
    if (end - start) / period > MAX_DATAPOINTS_PER_QUERY:
        raise invalid_combination(
            f"You have requested up to {int((end - start) / period)} datapoints, which exceeds the limit "
            f"of {MAX_DATAPOINTS_PER_QUERY}. You may reduce the datapoints requested by increasing "
            "Period, or decreasing the time range."
        )


def parse_statistics_query(params: Params, now: float) -> StatisticsQuery:
    for field in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
        if params.get(field) is None:
            raise missing_parameter(f"The parameter {field} is required")
    statistics = [check_statistic(s, "Statistics") for s in params.get("Statistics") or []]
    extended = [check_statistic(s, "ExtendedStatistics") for s in params.get("ExtendedStatistics") or []]
    if not statistics and not extended:
        raise missing_parameter("At least one of Statistics and ExtendedStatistics is required")
    if any(is_percentile(s) for s in statistics) or not all(is_percentile(s) for s in extended):
        raise invalid_combination("Percentiles go in ExtendedStatistics, the others in Statistics")
    start, end, period = float(params["StartTime"]), float(params["EndTime"]), int(params["Period"])
    _check_range(start, end, period)
    start = aligned_start(start, period, now)
    metric = MetricId(params["Namespace"], params["MetricName"], dimensions_key(params.get("Dimensions")))
    return StatisticsQuery(metric, params.get("Unit"), start, end, period, statistics, extended)


def parse_data_queries(params: Params, now: float) -> tuple[list[DataQuery], float, float]:
    """GetMetricData's MetricStat queries and its time range."""
    queries = params.get("MetricDataQueries") or []
    if not queries or params.get("StartTime") is None or params.get("EndTime") is None:
        raise missing_parameter("MetricDataQueries, StartTime and EndTime are required")
    start, end = float(params["StartTime"]), float(params["EndTime"])
    parsed = []
    for i, query in enumerate(queries, start=1):
        stat = query.get("MetricStat")
        if not stat:
            raise invalid_value(
                f"MetricDataQueries.member.{i} ({query.get('Id')!r}): only MetricStat queries are "
                "emulated, not Expression"
            )
        wire, period = stat["Metric"], int(stat["Period"])
        name = check_statistic(stat.get("Stat"), f"MetricDataQueries.member.{i}.MetricStat.Stat")
        _check_range(start, end, period)
        metric = MetricId(wire["Namespace"], wire["MetricName"], dimensions_key(wire.get("Dimensions")))
        label = query.get("Label", metric.name)
        parsed.append(
            DataQuery(
                query["Id"], label, metric, stat.get("Unit"), period, name, query.get("ReturnData", True)
            )
        )
    return parsed, aligned_start(start, min(query.period for query in parsed), now), end


def _positive_int(params: Params, field: str) -> int:
    value = params.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_value(f"The value {value!r} for parameter {field} must be an integer >= 1")
    return value


def parse_alarm(params: Params) -> AlarmDefinition:
    for field in ("AlarmName", "MetricName", "Namespace"):
        if not params.get(field):
            raise missing_parameter(f"The parameter {field} is required (got {params.get(field)!r})")
    if params.get("Metrics"):
        raise invalid_value("Metric math alarms (the Metrics parameter) are not emulated")
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if (statistic is None) == (extended is None):
        raise invalid_combination("Exactly one of Statistic and ExtendedStatistic must be specified")
    if statistic is not None and is_percentile(check_statistic(statistic, "Statistic")):
        raise invalid_value(f"Statistic {statistic!r} is a percentile: pass it as ExtendedStatistic")
    if extended is not None and not is_percentile(check_statistic(extended, "ExtendedStatistic")):
        raise invalid_value(f"ExtendedStatistic {extended!r} must be a percentile such as p99")
    period = _positive_int(params, "Period")
    if period not in (10, 20, 30) and period % 60:
        raise invalid_value(
            f"The value {period} for parameter Period is invalid: use 10, 20, 30 or a multiple of 60"
        )
    evaluation_periods = _positive_int(params, "EvaluationPeriods")
    to_alarm = params.get("DatapointsToAlarm", evaluation_periods)
    if isinstance(to_alarm, bool) or not isinstance(to_alarm, int) or not 1 <= to_alarm <= evaluation_periods:
        raise invalid_value(
            f"DatapointsToAlarm ({to_alarm!r}) must be between 1 and EvaluationPeriods ({evaluation_periods})"
        )
    threshold = params.get("Threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise invalid_value(f"The value {threshold!r} for parameter Threshold must be a number")
    comparison = params.get("ComparisonOperator")
    if comparison not in COMPARISONS:
        raise invalid_value(
            f"The value {comparison!r} for parameter ComparisonOperator is invalid: "
            f"use one of {', '.join(COMPARISONS)}"
        )
    treat_missing = params.get("TreatMissingData", "missing")
    if treat_missing not in TREAT_MISSING:
        raise invalid_value(
            f"The value {treat_missing!r} for parameter TreatMissingData is invalid: "
            f"use one of {', '.join(TREAT_MISSING)}"
        )
    return AlarmDefinition(
        params["AlarmName"],
        MetricId(params["Namespace"], params["MetricName"], dimensions_key(params.get("Dimensions"))),
        statistic or extended,
        period,
        evaluation_periods,
        to_alarm,
        threshold,  # as given: the state reasons quote it
        comparison,
        treat_missing,
        params.get("Unit"),
        params.get("AlarmDescription"),
        params.get("ActionsEnabled", True),
        tuple(params.get("OKActions") or ()),
        tuple(params.get("AlarmActions") or ()),
        tuple(params.get("InsufficientDataActions") or ()),
    )


def check_state(state: object) -> str:
    if state not in STATES:
        raise invalid_value(f"The value {state!r} for parameter StateValue is invalid: use {STATES}")
    return state  # type: ignore[return-value]
