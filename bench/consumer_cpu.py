"""The consumer's CPU per record: the Lambda handler on batches of 500 real simulated records.

`python -m bench.consumer_cpu`: starts an emulator on a free port in a temporary home, deploys a small
XGBoost model over serving.features.FEATURE_NAMES, seeds the online state from 35 simulated days, and
calls serving.consumer.handler.lambda_handler in this process (as the function's worker does, with real
boto3 clients against the emulator) on batches of 500 user records in two shapes, taking turns batch
by batch on fresh events so both see the same state:

- plain: 500 Kinesis records of one event each (the baseline: what the producer sent before);
- aggregated: the same kind of 500 events as KPL aggregates of up to 25 KiB (a dozen Kinesis records).

It prints the CPU time of this process (every thread: the sinks write in parallel) per user record,
with the ratio to plain, and the CPU the emulator (with its model servers) spent per record beside it.
For where the time goes, run it under a sampling profiler that sees every thread, e.g.
`py-spy record -f raw -o consumer.txt -- python -m bench.consumer_cpu`.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.harness import running_emulator, temporary_home
from bench.stream_throughput import _cpu_seconds, _deploy_model
from orchestration.aws import aws_client
from orchestration.data.offline_features import canonical_order
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.endpoint.names import ENDPOINT_NAME
from orchestration.stream.replay import _json_default, backfill_feature_state, event_payloads
from orchestration.stream.stack import (
    StreamStackSpec,
    ensure_bucket,
    ensure_queue,
    ensure_stream,
    ensure_table,
    function_environment,
)
from serving.consumer.state_store import DynamoFeatureStore
from serving.features import MS_PER_DAY
from serving.kpl import aggregate

BATCH = 500
SEED_DAYS = 35
SHARD = "shardId-000000000000"


@dataclass
class Shape:
    label: str
    kinesis_records: int = 0
    user_records: int = 0
    cpu_s: float = 0.0
    service_cpu_s: float = 0.0  # the emulator's and its children's

    def per_record_us(self, seconds: float) -> float:
        return seconds / self.user_records * 1e6 if self.user_records else 0.0


class _Context:
    function_name = "bench-consumer"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-consumer"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _kinesis_record(sequence: int, key: str, data: bytes, arrival_s: float) -> dict:
    number = f"{sequence:056d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": number,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival_s,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{number}",
        "eventName": "aws:kinesis:record",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/bench-in",
        "awsRegion": "us-east-1",
    }


def _batch(payloads: list[dict], arrival_s: float, aggregated: bool, first_sequence: int) -> list[dict]:
    users = [(p["customer_id"], json.dumps(p, default=_json_default).encode()) for p in payloads]
    packed = aggregate(users) if aggregated else ((key, data, None) for key, data in users)
    return [
        _kinesis_record(first_sequence + i, key, data, arrival_s) for i, (key, data, _) in enumerate(packed)
    ]


def _handler(settings, spec: StreamStackSpec, dlq_url: str):
    """The handler module imported with the function's environment, as a new execution environment."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{settings.emulator_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": settings.region,
            **function_environment(spec, dlq_url)["Variables"],
        }
    )
    return importlib.import_module("serving.consumer.handler")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="timed batches per shape")
    args = parser.parse_args()
    console = Console(stderr=True)  # stdout carries the handler's own logs and metrics

    events, labels = simulate(SimulationConfig(n_customers=2000, n_terminals=400, n_days=SEED_DAYS + 5))
    events = canonical_order(events)
    start_ms = int(events["timestamp_ms"].min()) // MS_PER_DAY * MS_PER_DAY + SEED_DAYS * MS_PER_DAY
    history, live = events[events["timestamp_ms"] < start_ms], events[events["timestamp_ms"] >= start_ms]
    payloads, times_ms = event_payloads(live), live["timestamp_ms"].to_numpy()
    needed = 2 * (args.batches + 1) * BATCH
    if len(payloads) < needed:
        raise SystemExit(f"only {len(payloads)} live events, {needed} needed")

    with temporary_home() as (home, settings), running_emulator(home, settings) as emulator_pid:
        clients = lambda service: aws_client(service, settings)  # noqa: E731
        _deploy_model(settings, clients, home)
        spec = StreamStackSpec.named("bench", endpoint_name=ENDPOINT_NAME)
        ensure_stream(clients("kinesis"), spec.output_stream, 1)
        ensure_table(clients("dynamodb"), spec.feature_state_table, "pk")
        dlq_url, _ = ensure_queue(clients("sqs"), spec.dead_letter_queue)
        for bucket in (spec.dead_letter_bucket, spec.audit_bucket):
            ensure_bucket(clients("s3"), bucket)
        store = DynamoFeatureStore(clients("dynamodb"), spec.feature_state_table)
        seeded = backfill_feature_state(store, history, labels, start_ms)
        console.print(f"seeded {seeded:,} state items from {len(history):,} events of {SEED_DAYS} days")

        handler = _handler(settings, spec, dlq_url)
        shapes = {False: Shape("plain (1 event per Kinesis record)"), True: Shape("KPL aggregated")}
        sequence = 1
        for turn in range(2 * (args.batches + 1)):
            aggregated = bool(turn % 2)
            chunk = payloads[turn * BATCH : (turn + 1) * BATCH]
            arrival_s = int(times_ms[(turn + 1) * BATCH - 1]) / 1000 + 1  # just after its newest event
            records = _batch(chunk, arrival_s, aggregated, sequence)
            sequence += len(records)
            services = sum(_cpu_seconds(emulator_pid).values())
            cpu = time.process_time()
            response = handler.lambda_handler({"Records": records}, _Context())
            cpu = time.process_time() - cpu
            if response["batchItemFailures"]:
                raise SystemExit(f"{len(response['batchItemFailures'])} records failed: {response}")
            if turn < 2:  # the first batch of each shape warms connections and caches
                continue
            shape = shapes[aggregated]
            shape.cpu_s += cpu
            shape.service_cpu_s += sum(_cpu_seconds(emulator_pid).values()) - services
            shape.kinesis_records += len(records)
            shape.user_records += len(chunk)

    table = Table(title=f"Consumer CPU per record ({args.batches} batches of {BATCH} per shape)")
    for column in ("shape", "Kinesis records / batch", "handler µs/record", "vs plain", "emulator µs/record"):
        table.add_column(column, justify="left" if column == "shape" else "right")
    plain = shapes[False].per_record_us(shapes[False].cpu_s)
    for shape in shapes.values():
        mine = shape.per_record_us(shape.cpu_s)
        table.add_row(
            shape.label,
            f"{shape.kinesis_records / args.batches:,.0f}",
            f"{mine:,.0f}",
            f"{mine / plain:.2f}x",
            f"{shape.per_record_us(shape.service_cpu_s):,.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
