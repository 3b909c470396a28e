"""Endpoint and consumer health from CloudWatch (and the DLQ's depth), and the limits that make it bad.

Reads what AWS publishes: AWS/SageMaker per-variant invocation metrics, AWS/Lambda IteratorAge, and the
consumer's own EMF metrics (namespace rtinfer). The same calls read the emulator locally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from orchestration.stream.accounting import queue_depth


@dataclass(frozen=True)
class HealthLimits:
    max_error_rate: float = 0.02  # (5XX + model errors) / invocations, per variant
    max_p99_model_latency_ms: float = 250.0
    max_fallback_rate: float = 0.05  # fallback predictions / records in
    max_dead_letter_rate: float = 0.05  # DLQ entries / records in
    max_iterator_age_ms: float = 120_000.0
    min_invocations: int = 50  # below this a rate says nothing


@dataclass
class HealthReading:
    variants: dict[str, dict[str, float]] = field(default_factory=dict)
    consumer: dict[str, float] = field(default_factory=dict)
    dead_letter_queue_depth: int = 0

    def as_metadata(self) -> dict[str, float]:
        flat = {
            f"{variant}.{name}": value
            for variant, figures in self.variants.items()
            for name, value in figures.items()
        }
        return {
            **flat,
            **{f"consumer.{k}": v for k, v in self.consumer.items()},
            "dlq_depth": self.dead_letter_queue_depth,
        }


def _sum(
    cw, namespace: str, metric: str, dimensions: list[dict], start, end, statistic: str = "Sum"
) -> float:
    kwargs = {"ExtendedStatistics": [statistic]} if statistic.startswith("p") else {"Statistics": [statistic]}
    points = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=start,
        EndTime=end,
        Period=max(60, int((end - start).total_seconds())),
        **kwargs,
    )["Datapoints"]
    if not points:
        return 0.0
    if statistic.startswith("p"):
        return max(point["ExtendedStatistics"][statistic] for point in points)
    return (
        sum(point[statistic] for point in points)
        if statistic == "Sum"
        else max(point[statistic] for point in points)
    )


def read_variant_health(cw, endpoint: str, variants: list[str], window_s: int = 300) -> dict[str, dict]:
    """Invocations, errors (5XX + model errors), error rate and p99 model latency per variant."""
    end = datetime.now(tz=UTC)
    start = end - timedelta(seconds=window_s)
    figures = {}
    for variant in variants:
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        invocations = _sum(cw, "AWS/SageMaker", "Invocations", dims, start, end)
        # A failed model call counts in both metrics: the larger is the number of failed calls.
        errors = max(
            _sum(cw, "AWS/SageMaker", m, dims, start, end)
            for m in ("Invocation5XXErrors", "InvocationModelErrors")
        )
        figures[variant] = {
            "invocations": invocations,
            "errors": errors,
            "error_rate": errors / invocations if invocations else 0.0,
            "p99_model_latency_ms": _sum(cw, "AWS/SageMaker", "ModelLatency", dims, start, end, "p99") / 1000,
        }
    return figures


def mean_model_latency_ms(cw, endpoint: str, variant: str, window_s: int = 3600) -> float:
    """A variant's mean ModelLatency over the window (NaN without calls): data capture records none."""
    end = datetime.now(tz=UTC)
    points = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        StartTime=end - timedelta(seconds=window_s),
        EndTime=end,
        Period=window_s,
        Statistics=["Average"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
    )["Datapoints"]
    return points[0]["Average"] / 1000 if points else float("nan")


HEALTH_WINDOW_S = 300
MIN_JUDGING_WINDOW_S = 60  # less of a layout's own traffic than this says nothing about it


def judging_window_s(layout_since: str, now: datetime | None = None, longest_s: int = HEALTH_WINDOW_S) -> int:
    """Seconds of metrics that belong to the endpoint's current layout (recorded at `layout_since`,
    ISO time), at most `longest_s`: what came before it was served by another layout (a candidate
    just rolled back, say) and must not be held against this one.

    Metrics are kept per minute and CloudWatch rounds a query's start down to its minute, so the
    minute the layout began in also holds the traffic of the layout before it: the window starts at
    the first whole minute after the change. (The demo's game day rolls a candidate back within the
    minute of its failed calls; counted from the change itself, the next health check held those
    calls' fallbacks against the production it had rolled back to.)"""
    since = datetime.fromisoformat(layout_since)
    first_minute = since.replace(second=0, microsecond=0)
    if first_minute < since:
        first_minute += timedelta(minutes=1)
    age = ((now or datetime.now(tz=UTC)) - first_minute).total_seconds()
    return max(0, min(longest_s, int(age)))


def read_health(
    cw,
    sqs,
    endpoint: str,
    variants: list[str],
    function_name: str,
    dlq_url: str,
    window_s: int = HEALTH_WINDOW_S,
) -> HealthReading:
    end = datetime.now(tz=UTC)
    start = end - timedelta(seconds=window_s)
    reading = HealthReading(dead_letter_queue_depth=queue_depth(sqs, dlq_url))
    reading.variants = read_variant_health(cw, endpoint, variants, window_s)
    service = [{"Name": "service", "Value": "fraud-consumer"}]
    records_in = _sum(cw, "rtinfer", "RecordsIn", service, start, end)
    reading.consumer = {
        "records_in": records_in,
        "fallback_rate": _sum(cw, "rtinfer", "Fallbacks", service, start, end) / records_in
        if records_in
        else 0.0,
        "dead_letter_rate": _sum(cw, "rtinfer", "DeadLettered", service, start, end) / records_in
        if records_in
        else 0.0,
        "iterator_age_ms": _sum(
            cw,
            "AWS/Lambda",
            "IteratorAge",
            [{"Name": "FunctionName", "Value": function_name}],
            start,
            end,
            "Maximum",
        ),
    }
    return reading


def health_breaches(reading: HealthReading, limits: HealthLimits) -> list[str]:
    breaches = []
    for variant, figures in reading.variants.items():
        if figures["invocations"] >= limits.min_invocations and figures["error_rate"] > limits.max_error_rate:
            breaches.append(f"{variant}: error rate {figures['error_rate']:.3f} > {limits.max_error_rate}")
        if figures["p99_model_latency_ms"] > limits.max_p99_model_latency_ms:
            breaches.append(
                f"{variant}: p99 model latency {figures['p99_model_latency_ms']:.0f} ms "
                f"> {limits.max_p99_model_latency_ms:.0f} ms"
            )
    consumer = reading.consumer
    if consumer.get("records_in", 0) >= limits.min_invocations:
        if consumer["fallback_rate"] > limits.max_fallback_rate:
            breaches.append(
                f"consumer: fallback rate {consumer['fallback_rate']:.3f} > {limits.max_fallback_rate}"
            )
        if consumer["dead_letter_rate"] > limits.max_dead_letter_rate:
            breaches.append(
                f"consumer: DLQ rate {consumer['dead_letter_rate']:.3f} > {limits.max_dead_letter_rate}"
            )
    if consumer.get("iterator_age_ms", 0) > limits.max_iterator_age_ms:
        breaches.append(
            f"consumer: iterator age {consumer['iterator_age_ms']:.0f} ms "
            f"> {limits.max_iterator_age_ms:.0f} ms"
        )
    return breaches
