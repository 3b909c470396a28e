"""Stream path throughput and latency, next to the one-record-at-a-time pattern it replaces.

`python -m bench.stream_throughput`: starts an emulator on a free port in a temporary home, deploys a
small XGBoost model over serving.features.FEATURE_NAMES, and in the same run measures:

- steady: the packaged consumer through the whole local path (producer → Kinesis → event-source
  mapping → Lambda → endpoint + DynamoDB state + output stream + one audit object per batch) at a
  steady rate; throughput is records accounted / seconds from the first put to the last prediction
  stored, latency is the audit rows' latency_ms (predicted − Kinesis arrival);
- max: the same path offered more than it can take (8,000 records/s for 15 s by default: a maximum
  is only measured above it, and offered at the aim the run could only fall short of it by its
  cold starts and its drain), on its own stack (separate stream, tables, queues and function, so
  the accounting does not mix);
- baseline: one InvokeEndpoint and one PutItem per record, single-threaded through boto3 against the
  same emulator, with the same features computed by serving.features; run before and after the
  stream runs, and the faster of the two is the baseline of the ratios.

It also prints the CPU each kind of process spent per record in the max run (from /proc), and what
that means for this machine's cores: the path's ceiling here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb
from rich.console import Console
from rich.table import Table

from bench.harness import free_port
from bench.stream_cost import audit_item, one_at_a_time_usage, path_usage, print_cost, rows_per_instance_s
from emulator import control
from orchestration.aws import aws_client
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.endpoint.actions import deploy_artifact
from orchestration.endpoint.names import ENDPOINT_NAME, PACKAGE_GROUP
from orchestration.endpoint.strategies import Clients as DeployClients
from orchestration.model.artifact import pack_model_artifact
from orchestration.settings import Settings
from orchestration.stream.accounting import wait_until_accounted
from orchestration.stream.audit_log import AuditReader
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.replay import TrafficConfig, event_payloads, replay
from orchestration.stream.stack import StreamStackSpec, deploy_stream_stack
from serving.consumer.scoring import csv_line
from serving.features import FEATURE_NAMES, InMemoryFeatureState
from serving.schemas import validate_event

ENDPOINT = ENDPOINT_NAME
AIM_RATIO = 10.0
AIM_RECORDS_PER_S = 5000.0
AIM_CONSUMER_US = 150.0  # consumer CPU per record
AIM_COST_RATIO = 10.0  # one-at-a-time $/M over the path's, at 50,000 tx/s
INSTANCES = 2  # the bench endpoint's instances
MAX_ROWS_PER_INVOKE = 200  # the consumer's default (serving/consumer/config.py MAX_ROWS_PER_INVOKE)


@dataclass
class Result:
    label: str
    sent: int
    accounted: int
    seconds: float
    p50_ms: float
    p99_ms: float
    note: str = ""
    sustained: float | None = None  # records/s once warm, see _sustained_rate
    spec: StreamStackSpec | None = None  # the run's own stack, for its cost
    span_s: tuple[float, float] = (0.0, 0.0)  # epoch seconds from the first put to the last stored
    scored: int = 0  # predictions and flagged fallbacks (the rest were dead-lettered)
    cpu_us_per_record: float = 0.0  # the baseline loop's own CPU (client side of every call)

    @property
    def rate(self) -> float:
        return self.accounted / self.seconds if self.seconds else 0.0

    @property
    def sustained_rate(self) -> float:
        return self.rate if self.sustained is None else self.sustained


def _sustained_rate(stored_ms: np.ndarray) -> float:
    """Records/s between the 10th and 90th percentile of the times predictions were stored.

    This leaves out the start, when every execution environment of the function cold-starts (the
    processes' imports and clients take this machine's two cores; on AWS they start on hosts of their
    own), and the drain of the last batches.
    """
    first, last = np.percentile(stored_ms, [10, 90])
    return 0.8 * len(stored_ms) / ((last - first) / 1000) if last > first else 0.0


def _cpu_seconds(emulator_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of the emulator and of each kind of process under it (Linux
    /proc): function workers, and model servers (forked from a warm parent, so grandchildren)."""
    ticks = os.sysconf("SC_CLK_TCK")
    processes: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        processes[int(entry.name)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / ticks)

    def under_emulator(pid: int) -> bool:
        while pid in processes and pid > 1:
            pid = processes[pid][0]
            if pid == emulator_pid:
                return True
        return False

    totals: dict[str, float] = {}
    for pid, (_, command, cpu) in processes.items():
        if pid == emulator_pid:
            kind = "emulator"
        elif under_emulator(pid):
            kind = "function workers" if "awslambdaric" in command else "model servers"
        else:
            continue
        totals[kind] = totals.get(kind, 0.0) + cpu
    return totals


def _deploy_model(settings: Settings, clients, work: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2000, len(FEATURE_NAMES)))
    y = (x[:, 0] + rng.normal(scale=0.2, size=len(x)) > 0.8).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4}, xgb.DMatrix(x, label=y), 20)
    packed = pack_model_artifact(booster, list(FEATURE_NAMES), 0.5, "v1", {}, work / "model" / "model.tar.gz")
    aws = DeployClients(clients("sagemaker"), clients("cloudwatch"), clients("s3"))
    deploy_artifact(aws, settings, packed, ENDPOINT, PACKAGE_GROUP, instance_count=INSTANCES)


def _stack_spec(name: str, shards: int, parallelization: int) -> StreamStackSpec:
    # the throughput profile (shared polling, 500-record batches): this bench measures bulk scoring;
    # bench/stream_latency.py compares the profiles
    return StreamStackSpec.named(
        name,
        esm_profile="throughput",
        input_shards=shards,
        parallelization_factor=parallelization,
        endpoint_name=ENDPOINT,
    )


def _stream_run(
    clients,
    role_arn: str,
    zip_path: Path,
    events,
    label: str,
    name: str,
    shards: int,
    parallelization: int,
    rate: float,
    seconds: float,
) -> Result:
    spec = _stack_spec(name, shards, parallelization)
    stack = deploy_stream_stack(clients, spec, zip_path, role_arn)
    first_put_ms = time.time() * 1000
    report = replay(
        clients("kinesis"), spec.input_stream, events, TrafficConfig(rate=rate, duration_s=seconds)
    )
    account = wait_until_accounted(
        clients("s3"),
        clients("sqs"),
        spec.audit_bucket,
        stack.dead_letter_queue_url,
        report.sent,
        timeout_s=90,
        poll_s=1.0,
    )
    stored = AuditReader(clients("s3"), spec.audit_bucket).rows_after(None)
    stored_ms = np.array([float(row["predicted_ms"]) for _, row in stored])
    last_ms = stored_ms.max() if len(stored_ms) else first_put_ms
    clients("lambda").update_event_source_mapping(
        UUID=stack.mapping_uuid, Enabled=False
    )  # quiet for the next
    note = f"sent at {report.rate:,.0f}/s" + (
        ""
        if account.accounted >= report.sent
        else f"; {report.sent - account.accounted} not accounted in 90 s"
    )
    return Result(
        label,
        report.sent,
        account.accounted,
        (last_ms - first_put_ms) / 1000,
        account.latency(50),
        account.latency(99),
        note,
        _sustained_rate(stored_ms) if len(stored_ms) else 0.0,
        spec,
        (first_put_ms / 1000, last_ms / 1000),
        account.predictions + account.fallbacks,
    )


def _baseline(clients, events, seconds: float, max_records: int, table: str) -> Result:
    """One record at a time: features, one InvokeEndpoint, one PutItem, in a single-threaded loop."""
    runtime, dynamodb = clients("sagemaker-runtime"), clients("dynamodb")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    state = InMemoryFeatureState()
    latencies: list[float] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for payload in event_payloads(events.head(max_records)):
        begin = time.perf_counter()
        event = validate_event(payload)
        vector = state.process(event)
        response = runtime.invoke_endpoint(
            EndpointName=ENDPOINT, ContentType="text/csv", Accept="application/json", Body=csv_line(vector)
        )
        score = float(json.loads(response["Body"].read())["predictions"][0])
        dynamodb.put_item(
            TableName=table,
            Item=audit_item(event, score),
        )
        latencies.append((time.perf_counter() - begin) * 1000)
        if time.perf_counter() - started > seconds:
            break
    elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(latencies, [50, 99])
    cpu_us = (time.process_time() - cpu_started) / len(latencies) * 1e6
    return Result(
        "one record at a time (baseline)",
        len(latencies),
        len(latencies),
        elapsed,
        p50,
        p99,
        note=f"{cpu_us:,.0f} µs of this process's CPU per record",
        cpu_us_per_record=cpu_us,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_throughput", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="steady rate, records/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="steady duration")
    parser.add_argument("--shards", type=int, default=8, help="shards for the steady run")
    parser.add_argument(
        "--parallelization",
        type=int,
        default=4,
        help="ParallelizationFactor of both runs: concurrent batches per shard",
    )
    parser.add_argument("--max-rate", type=float, default=8000.0, help="offered rate for the max run")
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--max-shards", type=int, default=8)
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument(
        "--cost-records", type=int, default=300, help="records of the one-at-a-time pattern, for its cost"
    )
    args = parser.parse_args(argv)
    console = Console()

    with tempfile.TemporaryDirectory(prefix="rtinfer-bench-") as tmp:
        home, port = Path(tmp), free_port()
        settings = Settings(env="local", home=home, emulator_port=port, region="us-east-1")

        def clients(service: str):
            return aws_client(service, settings)

        with console.status("starting the emulator, deploying the model, simulating traffic"):
            emulator_pid = control.start(port, home)
            try:
                _deploy_model(settings, clients, home)
                zip_path = build_lambda_zip(home / "consumer.zip")
                needed = int(max(args.rate * args.seconds, args.max_rate * args.max_seconds)) + 1
                events, _ = simulate(SimulationConfig(n_customers=4000, n_days=max(7, needed // 5000 + 2)))
            except BaseException:
                control.stop(home)
                raise
        try:
            with console.status("baseline: one InvokeEndpoint and one PutItem per record"):
                baseline_before = _baseline(clients, events, args.baseline_seconds, 20_000, "baseline-1")
            with console.status(f"steady: {args.rate:,.0f} records/s for {args.seconds:.0f} s"):
                steady = _stream_run(
                    clients,
                    settings.sagemaker_role_arn,
                    zip_path,
                    events,
                    "stream path, steady",
                    "steady",
                    args.shards,
                    args.parallelization,
                    args.rate,
                    args.seconds,
                )
            with console.status(f"max: offering {args.max_rate:,.0f} records/s for {args.max_seconds:.0f} s"):
                cpu_before, producer_before = _cpu_seconds(emulator_pid), time.process_time()
                fastest = _stream_run(
                    clients,
                    settings.sagemaker_role_arn,
                    zip_path,
                    events,
                    "stream path, as fast as it goes",
                    "max",
                    args.max_shards,
                    args.parallelization,
                    args.max_rate,
                    args.max_seconds,
                )
                cpu = {
                    kind: seconds - cpu_before.get(kind, 0.0)
                    for kind, seconds in _cpu_seconds(emulator_pid).items()
                }
                cpu["producer (this process)"] = time.process_time() - producer_before
            with console.status("baseline again, after the stream runs"):
                baseline_after = _baseline(clients, events, args.baseline_seconds, 20_000, "baseline-2")
            with console.status("cost: the max run's counted usage, the one-at-a-time pattern's, rows/s"):
                path_cost = path_usage(clients, fastest.spec, *fastest.span_s, fastest.scored)
                memory_mb = clients("lambda").get_function_configuration(
                    FunctionName=fastest.spec.function_name
                )["MemorySize"]
                pattern_cost = one_at_a_time_usage(clients, events, ENDPOINT, args.cost_records, memory_mb)
                runtime = clients("sagemaker-runtime")
                rows = np.random.default_rng(1).uniform(size=(MAX_ROWS_PER_INVOKE, len(FEATURE_NAMES)))
                path_rows_s = rows_per_instance_s(runtime, ENDPOINT, rows.tolist(), 2, 3.0, INSTANCES)
                one_row_s = rows_per_instance_s(runtime, ENDPOINT, rows[:1].tolist(), 4, 3.0, INSTANCES)
        finally:
            control.stop(home)
    # The one-at-a-time loop is latency-bound and the machine's noise moves it by tens of percent:
    # the ratios use the faster of its two runs, which can only understate the stream path.
    baseline = max(baseline_before, baseline_after, key=lambda result: result.rate)

    rows = (
        ("steady", f"{args.rate:,.0f}/s, {args.shards}×{args.parallelization} lanes", steady),
        ("max", f"{args.max_rate:,.0f}/s, {args.max_shards}×{args.parallelization} lanes", fastest),
        ("baseline", "1 record at a time", baseline),
    )
    table = Table(title="Stream path vs one record at a time (local emulator, same run)")
    columns = ("run", "offered", "records", "s", "records/s", "warm records/s", "p50 ms", "p99 ms", "× base")
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "offered") else "right")
    for name, offered, result in rows:
        table.add_row(
            name,
            offered,
            f"{result.accounted:,}",
            f"{result.seconds:.1f}",
            f"{result.rate:,.0f}",
            f"{result.sustained_rate:,.0f}",
            f"{result.p50_ms:,.0f}",
            f"{result.p99_ms:,.0f}",
            f"{result.rate / baseline.rate:.1f}× / {result.sustained_rate / baseline.rate:.1f}×",
        )
    console.print(table)
    for name, _, result in rows[:2]:
        console.print(f"{name}: {result.note}")
    console.print(
        f"baseline: {baseline_before.rate:,.0f} records/s before the stream runs, "
        f"{baseline_after.rate:,.0f} after; the table uses the faster"
    )
    for label, rate in (("whole run", fastest.rate), ("warm", fastest.sustained_rate)):
        ratio = rate / baseline.rate
        console.print(
            f"max, {label}: {rate:,.0f} records/s = {ratio:.1f}× the baseline "
            f"(aims: ≥ {AIM_RATIO:.0f}× {'met' if ratio >= AIM_RATIO else 'NOT met'}, "
            f"≥ {AIM_RECORDS_PER_S:,.0f} records/s {'met' if rate >= AIM_RECORDS_PER_S else 'NOT met'})"
        )
    _print_cpu(console, cpu, fastest.accounted, baseline)
    console.print(
        f"instances sized for the what-ifs by rows one local instance predicted per second: "
        f"{path_rows_s:,.0f} in requests of {MAX_ROWS_PER_INVOKE} rows (the path), {one_row_s:,.0f} in 1-row "
        "requests (one at a time)"
    )
    ratios = print_cost(console, path_cost, pattern_cost, path_rows_s, one_row_s)
    ratio = ratios[max(ratios)]
    console.print(
        f"cost at {max(ratios):,.0f} tx/s: the one-at-a-time pattern costs {ratio:.1f}× the path per "
        f"prediction (aim ≥ {AIM_COST_RATIO:.0f}×: {'met' if ratio >= AIM_COST_RATIO else 'NOT met'})"
    )
    console.print(
        "records/s: records accounted / seconds from the first put to the last prediction stored. "
        "warm records/s: between the 10th and 90th percentile of the stored times, i.e. without the "
        "function's cold starts (which share this machine's cores) and the drain. × base: records/s / "
        "warm records/s over the baseline. Stream latency: the audit rows' latency_ms (predicted − "
        "Kinesis arrival); baseline latency: one record's features + InvokeEndpoint + PutItem."
    )


def _print_cpu(console: Console, cpu: dict[str, float], records: int, baseline: Result) -> None:
    """CPU per record of each kind of process in the max run, beside the one-at-a-time loop's."""
    table = Table(title="CPU per record, max run (cold starts included), beside one record at a time")
    for column in ("process", "µs per record", "aim"):
        table.add_column(column, justify="left" if column == "process" else "right")
    per_record = {kind: 1e6 * seconds / max(records, 1) for kind, seconds in sorted(cpu.items())}
    for kind, us in per_record.items():
        aim = f"≤ {AIM_CONSUMER_US:.0f}" if kind == "function workers" else ""
        table.add_row(
            f"{kind}" + (" (the consumer)" if kind == "function workers" else ""), f"{us:,.0f}", aim
        )
    total = sum(per_record.values())
    table.add_row("whole path", f"{total:,.0f}", "")
    table.add_row("one record at a time: the loop's own process", f"{baseline.cpu_us_per_record:,.0f}", "")
    console.print(table)
    cores = os.cpu_count() or 1
    consumer = per_record.get("function workers", math.nan)
    console.print(
        f"consumer {consumer:,.0f} µs per record (aim ≤ {AIM_CONSUMER_US:.0f}: "
        f"{'met' if consumer <= AIM_CONSUMER_US else 'NOT met'}); the whole path's {total:,.0f} µs "
        f"means {cores} cores at 100% carry at most {cores * 1e6 / total:,.0f} records/s"
    )


if __name__ == "__main__":
    main()
