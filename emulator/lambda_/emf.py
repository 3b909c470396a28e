"""CloudWatch Embedded Metric Format: the log lines CloudWatch Logs turns into metrics.

A line is an EMF candidate when it is a JSON object with an `_aws` member. Its metadata is checked
against the specification; a line that fails stays a plain log line (no metric is extracted from
it), which is what CloudWatch Logs does, and the caller counts it.

    {"_aws": {"Timestamp": <epoch ms>, "CloudWatchMetrics": [
        {"Namespace": "ns", "Dimensions": [["service"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}]},
     "service": "svc", "M": [1, 2]}

Each metric of a directive is published once per dimension set, with the dimension values taken
from the root of the object; a value is a number or a list of numbers.
"""

from __future__ import annotations

import json
import math

from emulator.cloudwatch.metrics import Datapoint

MAX_DIRECTIVES = 100  # not specified tighter than this; bounds the work one line can cause
MAX_METRICS = 100
MAX_DIMENSIONS = 30
MAX_VALUES = 100
UNITS = frozenset(
    [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ]
)


class MalformedEmf(ValueError):
    """A JSON object with `_aws` whose metric metadata or values break the specification."""


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _values(document: dict, name: str) -> tuple[float, ...]:
    if name not in document:
        raise MalformedEmf(f"metric {name!r} has no value at the root")
    raw = document[name]
    values = raw if isinstance(raw, list) else [raw]
    if not values or len(values) > MAX_VALUES or not all(_number(v) for v in values):
        raise MalformedEmf(f"metric {name!r}: value must be a number or 1-{MAX_VALUES} numbers, got {raw!r}")
    return tuple(float(v) for v in values)


def _dimensions(document: dict, names: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
        raise MalformedEmf(f"a dimension set must be a list of up to {MAX_DIMENSIONS} names, got {names!r}")
    pairs = []
    for name in names:
        if not isinstance(name, str) or not isinstance(document.get(name), str) or not document[name]:
            raise MalformedEmf(f"dimension {name!r} needs a non-empty string value at the root")
        pairs.append((name, document[name]))
    return tuple(sorted(pairs))


def _directive(document: dict, directive: object, timestamp: float) -> list[Datapoint]:
    if not isinstance(directive, dict):
        raise MalformedEmf(f"a CloudWatchMetrics entry must be an object, got {directive!r}")
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255 or namespace.startswith("AWS/"):
        raise MalformedEmf(f"Namespace {namespace!r} is missing, too long or reserved (AWS/)")
    dimension_sets = directive.get("Dimensions")
    metrics = directive.get("Metrics")
    if not isinstance(dimension_sets, list):
        raise MalformedEmf(f"Dimensions must be a list of dimension sets, got {dimension_sets!r}")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        raise MalformedEmf(f"Metrics must be a list of up to {MAX_METRICS} definitions")
    dimensions = [_dimensions(document, names) for names in dimension_sets] or [()]
    points = []
    for metric in metrics:
        name = metric.get("Name") if isinstance(metric, dict) else None
        if not isinstance(name, str) or not name:
            raise MalformedEmf(f"a metric definition needs a Name, got {metric!r}")
        unit = metric.get("Unit", "None")
        if unit not in UNITS:
            raise MalformedEmf(f"metric {name!r}: unknown Unit {unit!r}")
        values = _values(document, name)
        for dims in dimensions:
            points.append(
                Datapoint(
                    namespace,
                    name,
                    dims,
                    timestamp,
                    unit,
                    len(values),
                    sum(values),
                    min(values),
                    max(values),
                    values,
                )
            )
    return points


def parse_line(line: str) -> list[Datapoint] | None:
    """The datapoints of an EMF line; None for a plain log line; MalformedEmf for a broken EMF line."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        raise MalformedEmf("not valid JSON") from None
    if not isinstance(document, dict) or "_aws" not in document:
        return None
    metadata = document["_aws"]
    if not isinstance(metadata, dict):
        raise MalformedEmf("_aws must be an object")
    timestamp = metadata.get("Timestamp")
    if not _number(timestamp) or timestamp < 0:
        raise MalformedEmf(f"_aws.Timestamp must be epoch milliseconds, got {timestamp!r}")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list) or len(directives) > MAX_DIRECTIVES:
        raise MalformedEmf("_aws.CloudWatchMetrics must be a list of metric directives")
    return [point for d in directives for point in _directive(document, d, timestamp / 1000)]
