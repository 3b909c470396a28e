"""What a prediction costs: counted usage over a window, priced by the dated table (prices.py), as
dollars per million predictions per component and per month at the observed rate; and what-ifs that
scale the measured per-prediction usage to a target rate, sizing the fixed-capacity parts for it.

Usage comes from what the services counted (usage.py reads it through CloudWatch); nothing here
assumes how many calls a prediction makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from orchestration.monitoring.prices import PriceTable

HOURS_PER_MONTH = 730  # AWS's billing month
MONTH_S = HOURS_PER_MONTH * 3600
GB = 1024**3
KINESIS_PUT_UNIT_BYTES = 25 * 1024  # a PUT payload unit: 25 KB of one record, rounded up
SHARD_WRITE_BYTES_PER_S = 1024 * 1024  # a provisioned shard takes in 1 MB/s ...
SHARD_WRITE_RECORDS_PER_S = 1000  # ... and 1,000 records/s
SQS_CHUNK_BYTES = 64 * 1024  # SQS bills each 64 KB of a payload as one request

SEED_RATES_PER_S = (50_000, 1_000)  # the seed architecture's peak and a modest steady load


@dataclass(frozen=True)
class StreamUsage:
    name: str
    shards: int
    records: float  # records written in the window (IncomingRecords)
    bytes: float  # their data and partition keys (IncomingBytes)

    @property
    def put_units(self) -> float:
        """PUT payload units: each record's 25 KB chunks. From totals this is a lower bound that is
        exact while no record exceeds 25 KB (KPL aggregates are capped there)."""
        return max(self.records, math.ceil(self.bytes / KINESIS_PUT_UNIT_BYTES))


@dataclass(frozen=True)
class VariantUsage:
    name: str
    instance_type: str
    instances: int
    share: float  # of the predictions it serves: its weight's share, 1.0 for a shadow (mirrored)


@dataclass(frozen=True)
class Usage:
    """What the path consumed in a window of `window_s` seconds in which it made `predictions`."""

    window_s: float
    predictions: float
    streams: tuple[StreamUsage, ...]
    variants: tuple[VariantUsage, ...]
    function_memory_mb: int
    function_architecture: str
    lambda_requests: float
    lambda_duration_ms: float
    dynamodb_read_units: float
    dynamodb_write_units: float
    s3_put_requests: float  # PUT, COPY, POST and LIST
    s3_get_requests: float  # GET, HEAD
    s3_stored_bytes: float  # held through the window
    sqs_requests: float
    cloudwatch_metrics: int  # custom metrics the function publishes (each billed per month)
    log_bytes: float  # the function's log lines ingested by CloudWatch Logs

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError(f"Usage.window_s must be > 0, got {self.window_s!r}")
        if self.predictions < 0:
            raise ValueError(f"Usage.predictions must be >= 0, got {self.predictions!r}")

    @property
    def rate_per_s(self) -> float:
        return self.predictions / self.window_s

    @property
    def lambda_gb_seconds(self) -> float:
        return self.lambda_duration_ms / 1000 * self.function_memory_mb / 1024


@dataclass(frozen=True)
class ComponentCost:
    name: str
    quantity: float  # in the window
    unit: str
    usd: float  # in the window


@dataclass(frozen=True)
class CostBreakdown:
    window_s: float
    predictions: float
    components: tuple[ComponentCost, ...]
    region: str
    prices_taken_on: str

    @property
    def usd(self) -> float:
        return sum(c.usd for c in self.components)

    def per_million(self, usd: float) -> float:
        """Dollars per million predictions (NaN when the window made none)."""
        return usd / self.predictions * 1e6 if self.predictions else math.nan

    def per_month(self, usd: float) -> float:
        """Dollars per month at the window's rate."""
        return usd * MONTH_S / self.window_s

    def as_metadata(self) -> dict[str, float]:
        figures = {f"{c.name} $/M": round(self.per_million(c.usd), 6) for c in self.components}
        figures["total $/M"] = round(self.per_million(self.usd), 6)
        figures["total $/month"] = round(self.per_month(self.usd), 2)
        return figures


def cost(usage: Usage, prices: PriceTable) -> CostBreakdown:
    hours = usage.window_s / 3600
    months = usage.window_s / MONTH_S
    shard_hours = sum(s.shards for s in usage.streams) * hours
    put_units = sum(s.put_units for s in usage.streams)
    instance_usd = sum(prices.instance_hour(v.instance_type).of(v.instances * hours) for v in usage.variants)
    instance_hours = sum(v.instances for v in usage.variants) * hours
    s3_requests_usd = prices.s3_put_request.of(usage.s3_put_requests) + prices.s3_get_request.of(
        usage.s3_get_requests
    )
    stored_gb_months = usage.s3_stored_bytes / GB * months
    metric_months = usage.cloudwatch_metrics * months
    components = (
        ComponentCost("SageMaker instances", instance_hours, "instance-hours", instance_usd),
        ComponentCost(
            "Kinesis shards", shard_hours, "shard-hours", prices.kinesis_shard_hour.of(shard_hours)
        ),
        ComponentCost(
            "Kinesis PUT units", put_units, "PUT payload units", prices.kinesis_put_payload_unit.of(put_units)
        ),
        ComponentCost(
            "Lambda requests",
            usage.lambda_requests,
            "requests",
            prices.lambda_request.of(usage.lambda_requests),
        ),
        ComponentCost(
            "Lambda duration",
            usage.lambda_gb_seconds,
            "GB-s",
            prices.gb_second(usage.function_architecture).of(usage.lambda_gb_seconds),
        ),
        ComponentCost(
            "DynamoDB writes",
            usage.dynamodb_write_units,
            "write request units",
            prices.dynamodb_write_request_unit.of(usage.dynamodb_write_units),
        ),
        ComponentCost(
            "DynamoDB reads",
            usage.dynamodb_read_units,
            "read request units",
            prices.dynamodb_read_request_unit.of(usage.dynamodb_read_units),
        ),
        ComponentCost(
            "S3 requests", usage.s3_put_requests + usage.s3_get_requests, "requests", s3_requests_usd
        ),
        ComponentCost(
            "S3 storage", stored_gb_months, "GB-months", prices.s3_storage_gb_month.of(stored_gb_months)
        ),
        ComponentCost(
            "SQS requests", usage.sqs_requests, "requests", prices.sqs_request.of(usage.sqs_requests)
        ),
        ComponentCost(
            "CloudWatch metrics",
            metric_months,
            "metric-months",
            prices.cloudwatch_metric_month.of(metric_months),
        ),
        ComponentCost(
            "CloudWatch Logs",
            usage.log_bytes / GB,
            "GB ingested",
            prices.cloudwatch_logs_ingested_gb.of(usage.log_bytes / GB),
        ),
    )
    return CostBreakdown(
        usage.window_s, usage.predictions, components, prices.region, prices.taken_on.isoformat()
    )


def shards_for(records_per_s: float, bytes_per_s: float) -> int:
    """Provisioned shards that take in this write rate within AWS's per-shard limits."""
    return max(
        1,
        math.ceil(bytes_per_s / SHARD_WRITE_BYTES_PER_S),
        math.ceil(records_per_s / SHARD_WRITE_RECORDS_PER_S),
    )


def what_if(usage: Usage, rate_per_s: float, rows_per_instance_s: float) -> Usage:
    """The usage at `rate_per_s` predictions per second over the same window: every counted unit
    scaled by the same per-prediction amount, shards sized for the scaled write rate of each stream,
    each variant given the instances its share of the rate needs at `rows_per_instance_s` (measured
    rows one instance predicts per second). Lambda concurrency does not change the cost. Lambda
    requests and S3 requests scale linearly, an upper bound: fuller batches at a higher rate need
    fewer calls, and data capture writes one file per flush, not per prediction. The custom metrics
    are a fixed count."""
    if not usage.predictions:
        raise ValueError("the usage counts no predictions: there is no per-prediction usage to scale")
    if not rate_per_s > 0:
        raise ValueError(f"rate_per_s must be > 0, got {rate_per_s!r}")
    if not rows_per_instance_s > 0:
        raise ValueError(f"rows_per_instance_s must be > 0, got {rows_per_instance_s!r}")
    factor = rate_per_s * usage.window_s / usage.predictions
    streams = tuple(
        replace(
            s,
            records=s.records * factor,
            bytes=s.bytes * factor,
            shards=shards_for(s.records * factor / usage.window_s, s.bytes * factor / usage.window_s),
        )
        for s in usage.streams
    )
    variants = tuple(
        replace(v, instances=max(1, math.ceil(rate_per_s * v.share / rows_per_instance_s)))
        for v in usage.variants
    )
    return replace(
        usage,
        predictions=rate_per_s * usage.window_s,
        streams=streams,
        variants=variants,
        lambda_requests=usage.lambda_requests * factor,
        lambda_duration_ms=usage.lambda_duration_ms * factor,
        dynamodb_read_units=usage.dynamodb_read_units * factor,
        dynamodb_write_units=usage.dynamodb_write_units * factor,
        s3_put_requests=usage.s3_put_requests * factor,
        s3_get_requests=usage.s3_get_requests * factor,
        s3_stored_bytes=usage.s3_stored_bytes * factor,
        sqs_requests=usage.sqs_requests * factor,
        log_bytes=usage.log_bytes * factor,
    )
