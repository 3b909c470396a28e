"""CloudWatch statistics over stored datapoints: Sum, Average, Minimum, Maximum, SampleCount, pNN.

A datapoint is already an aggregate (a PutMetricData value is one with count 1); it keeps its raw
samples when it has them (Value, Values/Counts, our own latency samples) so percentiles can be exact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from emulator.protocol.errors import AwsError

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"p(\d{1,2}(\.\d{1,2})?|100)\Z")


@dataclass
class Aggregate:
    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    samples: list[float] = field(default_factory=list)

    def add(self, count: float, total: float, minimum: float, maximum: float, samples: list[float]) -> None:
        self.count += count
        self.total += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        self.samples.extend(samples)

    def statistic(self, name: str) -> float | None:
        """The value of `name` (a standard statistic or pNN); None when it cannot be computed."""
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count if self.count else None
        if name == "Minimum":
            return self.minimum if self.count else None
        if name == "Maximum":
            return self.maximum if self.count else None
        return percentile(self.samples, float(name[1:])) if self.samples else None


def is_percentile(name: str) -> bool:
    return bool(_PERCENTILE.match(name))


def check_statistic(name: object, field_name: str) -> str:
    if not isinstance(name, str) or not (name in STATISTICS or is_percentile(name)):
        raise AwsError(
            "InvalidParameterValue",
            f"The value {name!r} for parameter {field_name} is invalid: use one of {', '.join(STATISTICS)} "
            "or a percentile such as p99",
        )
    return name


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile, as CloudWatch reports for raw values."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
