"""Put → stored latency of the stream path under each event-source-mapping profile, with the old
mapping (500 records / 1 s window / 2 per shard, shared polling) as the baseline of the same run.

`python -m bench.stream_latency`: starts an emulator whose shared-throughput mappings poll each
shard once a second when caught up (RTINFER_ESM_POLL_INTERVAL_S=1.0, as Lambda does on AWS; the
emulator's default is 0.1 s to keep the suite quick), deploys a small XGBoost model, and for every
configuration deploys its own stack and offers a steady load with orchestration.stream.replay at
each rate: a short warm-up (the function's execution environments cold-start), then the measured
load. It reports, for the measured records only:

- put → stored p50/p99: the consumer's own figure, the audit rows' latency_ms (predicted − Kinesis
  arrival), read through `stored_latencies`;
- records/s: measured records / seconds from the first measured put to the last of them stored;
- where the time goes: IteratorAge (the ESM's delivery: invoke − arrival of a batch's last record)
  and Duration (the function) from CloudWatch, and a 1-row InvokeEndpoint probe's p50/p99 (the
  endpoint, timed from this process while the load runs).

`run(clients, role_arn, zip_path, events, endpoint, ...)` measures without the emulator set-up, so
another bench can call it on its own emulator.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.consumer_stages import stage_profile
from bench.harness import free_port
from bench.stream_throughput import _deploy_model
from emulator import control
from emulator.lambda_.esm.shard_poller import POLL_INTERVAL_ENV
from orchestration.aws import aws_client
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.endpoint.names import ENDPOINT_NAME
from orchestration.settings import Settings
from orchestration.stream.accounting import wait_until_accounted
from orchestration.stream.audit_log import AuditReader, unique_requests
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.replay import TrafficConfig, replay
from orchestration.stream.stack import StreamStackSpec, deploy_stream_stack
from serving.consumer.scoring import csv_line
from serving.features import FEATURE_NAMES

RATES = (500.0, 2000.0)
# (p50, p99) aims in ms by rate; None: no aim
AIMS: dict[float, tuple[float | None, float]] = {500.0: (100.0, 300.0), 2000.0: (None, 1000.0)}
CONFIGURATIONS: tuple[tuple[str, dict], ...] = (
    # the throughput profile keeps these numbers, so this row is its measurement too
    (
        "old (baseline): 500 / 1 s / 2, shared polling",
        {"batch_size": 500, "batching_window_s": 1, "parallelization_factor": 2, "enhanced_fan_out": False},
    ),
    ("latency profile", {"esm_profile": "latency"}),
)
SHARDS = 4  # 2,000 records/s is at the write limit of 2 shards (1,000 records/s each)
WARM_UP_S = 3.0
STAGE_BATCHES = 20
PROBE_EVERY_S = 0.02


def stored_latencies(clients, spec: StreamStackSpec, request_ids: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """(latency_ms, stored epoch ms) of the given requests, as the consumer recorded them in the
    audit objects."""
    rows = unique_requests(AuditReader(clients("s3"), spec.audit_bucket).rows_since(0))
    rows = [row for row in rows if row["request_id"] in request_ids]
    latency = np.array([float(row["latency_ms"]) for row in rows])
    stored = np.array([float(row["predicted_ms"]) for row in rows])
    return latency, stored


@dataclass
class LatencyResult:
    label: str
    rate: float
    sent: int
    measured: int
    p50_ms: float
    p99_ms: float
    records_per_s: float
    iterator_age_ms: tuple[float, float]
    duration_ms: tuple[float, float]
    probe_ms: tuple[float, float]
    note: str = ""


@dataclass
class _Probe:
    """1-row InvokeEndpoint calls in a thread while the load runs."""

    runtime: object
    endpoint: str
    timings_ms: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._body = csv_line([0.5] * len(FEATURE_NAMES))
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(PROBE_EVERY_S):
            begin = time.perf_counter()
            self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body=self._body)[
                "Body"
            ].read()
            self.timings_ms.append((time.perf_counter() - begin) * 1000)

    def __enter__(self) -> _Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _percentiles(values: Sequence[float]) -> tuple[float, float]:
    if not len(values):
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.asarray(values, dtype=float), [50, 99])
    return float(p50), float(p99)


def _function_metric(cloudwatch, function: str, metric: str, start: float, end: float) -> tuple[float, float]:
    """p50/p99 of an AWS/Lambda metric of the function over [start, end] (one period)."""
    period = 60 * (int((end - start) // 60) + 2)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=datetime.fromtimestamp(start - 60, tz=UTC),
        EndTime=datetime.fromtimestamp(start - 60 + period, tz=UTC),
        Period=period,
        ExtendedStatistics=["p50", "p99"],
    )["Datapoints"]
    if not points:
        return float("nan"), float("nan")
    stats = max(points, key=lambda point: point.get("SampleCount", 0))["ExtendedStatistics"]
    return stats["p50"], stats["p99"]


def measure(
    clients,
    role_arn: str,
    zip_path: Path,
    events,
    endpoint: str,
    label: str,
    name: str,
    overrides: dict,
    rate: float,
    seconds: float,
    shards: int,
) -> LatencyResult:
    """One configuration at one rate, on a stack of its own."""
    spec = StreamStackSpec.named(name, endpoint_name=endpoint, input_shards=shards, **overrides)
    stack = deploy_stream_stack(clients, spec, zip_path, role_arn)
    kinesis = clients("kinesis")
    warm = replay(kinesis, spec.input_stream, events, TrafficConfig(rate=rate, duration_s=WARM_UP_S))
    wait_until_accounted(
        clients("s3"),
        clients("sqs"),
        spec.audit_bucket,
        stack.dead_letter_queue_url,
        warm.sent,
        timeout_s=90,
    )
    started = time.time()
    with _Probe(clients("sagemaker-runtime"), endpoint) as probe:
        report = replay(
            kinesis, spec.input_stream, events.iloc[warm.sent :], TrafficConfig(rate=rate, duration_s=seconds)
        )
    account = wait_until_accounted(
        clients("s3"),
        clients("sqs"),
        spec.audit_bucket,
        stack.dead_letter_queue_url,
        warm.sent + report.sent,
        timeout_s=120,
        poll_s=1.0,
    )
    latency, stored = stored_latencies(clients, spec, set(report.request_ids))
    ended = time.time()
    clients("lambda").update_event_source_mapping(UUID=stack.mapping_uuid, Enabled=False)  # quiet
    p50, p99 = _percentiles(latency)
    last_ms = stored.max() if len(stored) else started * 1000
    missing = warm.sent + report.sent - account.accounted
    note = f"sent at {report.rate:,.0f}/s" + (f"; {missing} not accounted in 120 s" if missing > 0 else "")
    cloudwatch = clients("cloudwatch")
    return LatencyResult(
        label,
        rate,
        report.sent,
        len(latency),
        p50,
        p99,
        len(latency) / max((last_ms / 1000 - started), 1e-9),
        _function_metric(cloudwatch, spec.function_name, "IteratorAge", started, ended),
        _function_metric(cloudwatch, spec.function_name, "Duration", started, ended),
        _percentiles(probe.timings_ms),
        note,
    )


def stack_name(configuration: int, rate: float) -> str:
    return f"lat{configuration}-{int(rate)}"


def run(
    clients,
    role_arn: str,
    zip_path: Path,
    events,
    endpoint: str,
    rates: Sequence[float] = RATES,
    seconds: float = 15.0,
    configurations: Sequence[tuple[str, dict]] = CONFIGURATIONS,
    shards: int = SHARDS,
    on_start: Callable[[str, float], None] = lambda label, rate: None,
    on_result: Callable[[LatencyResult], None] = lambda result: None,
) -> list[LatencyResult]:
    """Every configuration at every rate, each on its own stack, in this order."""
    results = []
    for index, (label, overrides) in enumerate(configurations):
        for rate in rates:
            on_start(label, rate)
            name = stack_name(index, rate)
            result = measure(
                clients, role_arn, zip_path, events, endpoint, label, name, overrides, rate, seconds, shards
            )
            on_result(result)
            results.append(result)
    return results


def print_results(console: Console, results: Sequence[LatencyResult], poll_s: float) -> None:
    table = Table(
        title=f"Put → stored latency by ESM configuration (local emulator, shared polling every {poll_s:g} s)"
    )
    columns = (
        "configuration",
        "offered/s",
        "records",
        "p50 ms",
        "p99 ms",
        "records/s",
        "iterator age p50/p99",
        "function p50/p99",
        "1-row invoke p50/p99",
        "aim",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for result in results:
        aim_p50, aim_p99 = AIMS.get(result.rate, (None, float("inf")))
        met = result.p99_ms <= aim_p99 and (aim_p50 is None or result.p50_ms <= aim_p50)
        aim = (f"p50 ≤ {aim_p50:.0f}, " if aim_p50 else "") + f"p99 ≤ {aim_p99:.0f}"
        table.add_row(
            result.label,
            f"{result.rate:,.0f}",
            f"{result.measured:,}",
            f"{result.p50_ms:,.0f}",
            f"{result.p99_ms:,.0f}",
            f"{result.records_per_s:,.0f}",
            "{:,.0f} / {:,.0f}".format(*result.iterator_age_ms),
            "{:,.0f} / {:,.0f}".format(*result.duration_ms),
            "{:,.1f} / {:,.1f}".format(*result.probe_ms),
            f"{aim}: {'met' if met else 'NOT met'}",
        )
    console.print(table)
    for result in results:
        if result.note:
            console.print(f"{result.label} at {result.rate:,.0f}/s: {result.note}")
    console.print(
        "p50/p99: the audit rows' latency_ms (predicted − Kinesis arrival) of the measured records "
        f"(after a {WARM_UP_S:g} s warm-up). iterator age: CloudWatch IteratorAge, invoke − arrival of "
        "a batch's last record (the mapping's delivery). function: CloudWatch Duration. 1-row invoke: "
        "InvokeEndpoint from this process while the load ran."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_latency", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured load per run")
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    parser.add_argument("--shards", type=int, default=SHARDS, help="input shards of every stack")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="shared-throughput poll interval (AWS: about 1 s)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="BATCH/WINDOW/PARALLEL",
        help="also measure enhanced fan-out with these numbers, e.g. 50/0/8 (repeatable)",
    )
    args = parser.parse_args(argv)
    configurations = list(CONFIGURATIONS)
    for variant in args.variant:
        batch, window, parallel = (int(part) for part in variant.split("/"))
        configurations.append(
            (
                f"EFO {batch} / {window} s / {parallel}",
                {
                    "esm_profile": "latency",
                    "batch_size": batch,
                    "batching_window_s": window,
                    "parallelization_factor": parallel,
                },
            )
        )
    console = Console(width=200)
    with tempfile.TemporaryDirectory(prefix="rtinfer-bench-") as tmp:
        home, port = Path(tmp), free_port()
        settings = Settings(env="local", home=home, emulator_port=port, region="us-east-1")

        def clients(service: str):
            return aws_client(service, settings)

        os.environ[POLL_INTERVAL_ENV] = str(args.poll_interval)  # read by the emulator process
        with console.status("starting the emulator, deploying the model, simulating traffic"):
            control.start(port, home)
            try:
                _deploy_model(settings, clients, home)
                zip_path = build_lambda_zip(home / "consumer.zip")
                needed = int(max(args.rates) * (args.seconds + WARM_UP_S)) + 1
                events, _ = simulate(SimulationConfig(n_customers=4000, n_days=max(7, needed // 5000 + 2)))
            except BaseException:
                control.stop(home)
                raise
        try:
            status = console.status("")
            with status:
                results = run(
                    clients,
                    settings.sagemaker_role_arn,
                    zip_path,
                    events,
                    ENDPOINT_NAME,
                    args.rates,
                    args.seconds,
                    configurations,
                    args.shards,
                    lambda label, rate: status.update(f"{label}: {rate:,.0f} records/s"),
                    lambda result: console.print(result),  # as they come: a long run keeps its figures
                )
            latency_index = next(
                i for i, (label, _) in enumerate(configurations) if label == "latency profile"
            )
            latency_batch = StreamStackSpec(esm_profile="latency").mapping_profile.batch_size
            with console.status("the consumer's stages, in this process"):
                stages = stage_profile(
                    clients,
                    StreamStackSpec.named(stack_name(latency_index, args.rates[0])).function_name,
                    events,
                    latency_batch,
                    STAGE_BATCHES,
                )
        finally:
            control.stop(home)
    print_results(console, results, args.poll_interval)
    console.print(
        f"One {latency_batch}-record batch of the packaged pipeline in this process (median of "
        f"{STAGE_BATCHES}, ms; calls made concurrently overlap): "
        + ", ".join(f"{stage} {ms:,.1f}" for stage, ms in sorted(stages.items(), key=lambda kv: -kv[1]))
    )


if __name__ == "__main__":
    main()
