"""What a prediction costs on the stream path and on the one-at-a-time pattern, both from counted usage.

The stream bench calls these after its runs on one emulator:

- `path_usage`: the usage of a run's own stack (its streams, tables, buckets, queues and function), as
  the services counted it and CloudWatch holds it (orchestration.monitoring.usage.read_usage);
- `one_at_a_time_usage`: the pattern the path replaces, run record by record against the same
  emulator and counted the same way: the producer's PutRecord, the customer state's GetItem and
  PutItem (its JSON, as that pattern stores it), the terminal counter's UpdateItem, one 1-row
  InvokeEndpoint and one audit PutItem per record. That pattern runs in a Lambda invoked once per
  record (BatchSize 1); no function runs here, so its Lambda usage is one request per record and the
  record's measured time, billed by the millisecond;
- `rows_per_instance_s`: rows one endpoint instance predicts per second at a given request size,
  measured, for sizing instances in the what-ifs (the path sends up to 200 rows per request, the
  pattern one);
- `print_cost`: both at the seed's 50,000 and at 1,000 tx/s, per component, with the ratio.

CloudWatch sums whole minutes, so each window spans the minutes of its run; every resource is the
run's own, so nothing else is counted in it. The what-ifs scale usage per prediction, which the
window's length does not change.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rich.console import Console

from bench.cost import print_comparison
from orchestration.monitoring.cost import SEED_RATES_PER_S, Usage, what_if
from orchestration.monitoring.usage import CostedResources, Window, read_usage, stack_resources
from orchestration.stream.replay import event_payloads
from orchestration.stream.stack import StreamStackSpec, ensure_stream, ensure_table
from serving.consumer.scoring import csv_line
from serving.features import (
    CustomerState,
    TerminalState,
    online_features,
    update_customer,
    update_terminal,
)
from serving.schemas import validate_event

PUBLISH_WAIT_S = 3.0  # the emulator publishes service metrics twice a second, Lambda's from its logs


def audit_item(event, score: float) -> dict:
    """The one-at-a-time pattern's audit item: one PutItem per prediction."""
    return {
        "request_id": {"S": event.request_id},
        "customer_id": {"S": event.customer_id},
        "score": {"N": repr(score)},
        "decision": {"S": "decline" if score >= 0.5 else "approve"},
        "predicted_ms": {"N": str(int(time.time() * 1000))},
    }


def minutes_window(started: float, ended: float) -> Window:
    """The whole CloudWatch minutes from `started` to `ended` (epoch seconds)."""
    start = datetime.fromtimestamp(started, UTC).replace(second=0, microsecond=0)
    end = datetime.fromtimestamp(ended, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return Window(start, end)


def _read(clients, resources: CostedResources, window: Window, predictions: float) -> Usage:
    time.sleep(PUBLISH_WAIT_S)  # what the services counted last is still on its way to CloudWatch
    return read_usage(
        *(clients(s) for s in ("cloudwatch", "sagemaker", "lambda", "kinesis")),
        resources,
        window,
        predictions=predictions,
    )


def path_usage(clients, spec: StreamStackSpec, started: float, ended: float, predictions: float) -> Usage:
    return _read(clients, stack_resources(spec), minutes_window(started, ended), predictions)


def one_at_a_time_usage(clients, events, endpoint: str, records: int, memory_mb: int) -> Usage:
    """Run the one-at-a-time pattern over `records` events on resources of its own; its usage."""
    kinesis, dynamodb, runtime = clients("kinesis"), clients("dynamodb"), clients("sagemaker-runtime")
    stream, state_table, audit_table = "one-at-a-time-in", "one-at-a-time-state", "one-at-a-time-audit"
    ensure_stream(kinesis, stream, 1)
    ensure_table(dynamodb, state_table, "pk")
    ensure_table(dynamodb, audit_table, "request_id")
    # The pattern only counts per terminal (an UpdateItem ADD): its terminal features see no history,
    # which spares it a read per record and can only flatter it.
    terminal = TerminalState()
    started, handled_ms = time.time(), 0.0
    for payload in event_payloads(events.head(records)):
        data = json.dumps(payload, default=str).encode()
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey=payload["customer_id"])
        begin = time.perf_counter()  # from here on: what the function does for this one record
        event = validate_event(json.loads(data))
        key = {"pk": {"S": f"C#{event.customer_id}"}}
        item = dynamodb.get_item(TableName=state_table, Key=key).get("Item")
        customer = CustomerState.from_dict(json.loads(item["state"]["S"])) if item else CustomerState()
        vector = online_features(event, customer, terminal)
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=csv_line(vector)
        )
        score = float(json.loads(answer["Body"].read())["predictions"][0])
        update_customer(customer, event)
        update_terminal(terminal, event.timestamp_ms)
        dynamodb.put_item(TableName=state_table, Item={**key, "state": {"S": json.dumps(customer.to_dict())}})
        dynamodb.update_item(
            TableName=state_table,
            Key={"pk": {"S": f"T#{event.terminal_id}"}},
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": f"n_{event.timestamp_ms // 86_400_000}"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        dynamodb.put_item(
            TableName=audit_table,
            Item=audit_item(event, score),
        )
        handled_ms += math.ceil((time.perf_counter() - begin) * 1000)  # Lambda bills whole milliseconds
    resources = CostedResources(
        streams=(stream,),
        tables=(state_table, audit_table),
        buckets=(),
        queues=(),
        function_name=None,
        endpoint_name=endpoint,
    )
    usage = _read(clients, resources, minutes_window(started, time.time()), records)
    return replace(
        usage, function_memory_mb=memory_mb, lambda_requests=float(records), lambda_duration_ms=handled_ms
    )


def rows_per_instance_s(
    runtime, endpoint: str, rows: list[list[float]], threads: int, seconds: float, instances: int
) -> float:
    """Rows per second one instance predicted, with `threads` callers sending `rows` per request."""
    body = "\n".join(csv_line(row) for row in rows)
    deadline = time.monotonic() + seconds

    def call_until_deadline() -> int:
        done = 0
        while time.monotonic() < deadline:
            runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
            done += len(rows)
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        predicted = sum(pool.map(lambda _: call_until_deadline(), range(threads)))
    return predicted / (time.monotonic() - started) / instances


def print_cost(
    console: Console, path: Usage, baseline: Usage, path_rows_s: float, baseline_rows_s: float
) -> dict[float, float]:
    """The two patterns at each seed rate; the ratio of their totals (baseline / path) by rate."""
    ratios = {}
    for rate in SEED_RATES_PER_S:
        frame = print_comparison(
            console,
            what_if(path, rate, path_rows_s),
            what_if(baseline, rate, baseline_rows_s),
            name=f"one-at-a-time, at {rate:,.0f} tx/s",
        )
        ratios[rate] = float(frame.iloc[-1, -1])
    return ratios
