"""Replay simulated transactions into the input stream at a target rate, with their labels.

Labels go to the labels table with the time each becomes available; the replay's clock is the
simulated time of the newest transaction sent, and as it passes a fraud label's availability time
the chargeback feed records that fraud on its terminal's online state (as an issuer's chargeback
system would), which is what the terminal fraud-rate features read.
"""

from __future__ import annotations

import hashlib
import json
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from orchestration.data.offline_features import canonical_order
from serving.consumer.retrying import resend_in_chunks
from serving.consumer.state_store import DynamoFeatureStore, customer_item, terminal_item
from serving.features import MS_PER_DAY, InMemoryFeatureState, update_customer, update_terminal
from serving.kpl import aggregate
from serving.schemas import EVENT_FIELDS, format_timestamp

_FOLDED_FIELDS = ["customer_id", "terminal_id", "timestamp_ms", "device_id", "amount"]
_PUT_LIMIT = 500  # PutRecords' record limit
_TICK_S = 0.05


class TrafficConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(500.0, gt=0, le=100_000, description="records per second")
    duration_s: float = Field(10.0, gt=0, le=86_400)
    malformed_share: float = Field(0.0, ge=0, le=0.5, description="share of records sent broken on purpose")
    start_day: int = Field(
        42, ge=0, description="simulated day the replay starts at; earlier days seed the state"
    )
    offset: int = Field(0, ge=0, description="events from start_day on to skip: continue an earlier replay")
    seed_state: bool = Field(True, description="rebuild the online state from the days before start_day")
    aggregate: bool = Field(
        True,
        description="put KPL aggregates (records bound for one shard packed up to 25 KiB); "
        "false puts each record on its own",
    )
    seed: int = 0


@dataclass
class TrafficReport:
    sent: int = 0  # user records
    malformed: int = 0
    put_calls: int = 0
    kinesis_records: int = 0  # what was put: aggregates and plain records
    resent_entries: int = 0
    seconds: float = 0.0
    request_ids: list[str] = field(default_factory=list)
    labels_written: int = 0
    frauds_fed: int = 0
    state_items_seeded: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def event_payloads(events: pd.DataFrame) -> list[dict]:
    fields = [name for name in EVENT_FIELDS if name != "timestamp"]
    rows = events[fields].to_dict("records")
    for row, ms in zip(rows, events["timestamp_ms"].to_numpy(), strict=True):
        row["timestamp"] = format_timestamp(int(ms))
    return rows


def _malformed(index: int, valid: dict) -> tuple[bytes, str]:
    """Alternate the two kinds of bad input the consumer must dead-letter: not JSON, and off-schema."""
    if index % 2 == 0:
        return b'{"request_id": "broken-' + str(index).encode() + b'", amount: oops', valid["customer_id"]
    return json.dumps({**valid, "request_id": f"invalid-{index}", "amount": -5}).encode(), valid[
        "customer_id"
    ]


class ShardMap:
    """Which open shard a partition key lands on (the MD5 of the key within a shard's hash key range),
    so that an aggregate holds only records bound for one shard: each customer's events stay on
    its shard, in order, as the consumer's online state needs."""

    def __init__(self, kinesis, stream: str):
        shards, token = [], None
        while True:
            page = kinesis.list_shards(**({"NextToken": token} if token else {"StreamName": stream}))
            shards += [s for s in page["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
            token = page.get("NextToken")
            if not token:
                break
        self._starts = sorted(int(s["HashKeyRange"]["StartingHashKey"]) for s in shards)

    def shard_of(self, partition_key: str) -> int:
        return bisect_right(self._starts, int.from_bytes(hashlib.md5(partition_key.encode()).digest())) - 1


def packed_entries(entries: list[dict], shards: ShardMap) -> list[dict]:
    """PutRecords entries of KPL aggregates, each of one shard's records in their order."""
    by_shard: dict[int, list[tuple[str, bytes]]] = {}
    for entry in entries:
        by_shard.setdefault(shards.shard_of(entry["PartitionKey"]), []).append(
            (entry["PartitionKey"], entry["Data"])
        )
    return [
        {"Data": data, "PartitionKey": key}
        for records in by_shard.values()
        for key, data, _ in aggregate(records)
    ]


def _put(kinesis, stream: str, entries: list[dict], report: TrafficReport) -> None:
    def put(chunk: list[dict]) -> list[dict]:
        report.put_calls += 1
        response = kinesis.put_records(StreamName=stream, Records=chunk)
        failed = [
            entry for entry, result in zip(chunk, response["Records"], strict=True) if "ErrorCode" in result
        ]
        report.resent_entries += len(failed)
        return failed

    never = resend_in_chunks(put, entries, _PUT_LIMIT)
    if never:
        raise RuntimeError(f"{len(never)} records could not be put to {stream} after retries")


def write_labels(dynamodb, table: str, labels: pd.DataFrame, events: pd.DataFrame) -> int:
    joined = labels.merge(events[["request_id", "timestamp_ms"]], on="request_id")
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "request_id": {"S": row.request_id},
                    "is_fraud": {"BOOL": bool(row.is_fraud)},
                    "scenario": {"S": row.scenario},
                    "event_ms": {"N": str(int(row.timestamp_ms))},
                    "label_available_ms": {"N": str(int(row.label_available_ms))},
                }
            }
        }
        for row in joined.itertuples(index=False)
    ]

    def write(chunk: list[dict]) -> list[dict]:
        return (
            dynamodb.batch_write_item(RequestItems={table: chunk}).get("UnprocessedItems", {}).get(table, [])
        )

    never = resend_in_chunks(write, requests, 25)
    if never:
        raise RuntimeError(f"{len(never)} labels could not be written to {table}")
    return len(requests)


class ChargebackFeed:
    """Feeds fraud labels to terminal state once the replay clock passes their availability time."""

    def __init__(self, store: DynamoFeatureStore, events: pd.DataFrame, labels: pd.DataFrame):
        frauds = labels[labels["is_fraud"]].merge(
            events[["request_id", "terminal_id", "timestamp_ms"]], on="request_id"
        )
        frauds = frauds.sort_values("label_available_ms")
        self._pending = list(
            frauds[["label_available_ms", "terminal_id", "timestamp_ms"]].itertuples(index=False)
        )
        self._next = 0
        self.store = store

    def advance(self, clock_ms: int) -> int:
        fed = 0
        while self._next < len(self._pending) and self._pending[self._next][0] <= clock_ms:
            _, terminal_id, transaction_ms = self._pending[self._next]
            self.store.add_known_fraud(terminal_id, int(transaction_ms))
            self._next += 1
            fed += 1
        return fed


def backfill_feature_state(
    store: DynamoFeatureStore, history: pd.DataFrame, labels: pd.DataFrame, known_by_ms: int
) -> int:
    """Seed the online state from history the stream never carried (a new deployment's warm start).

    Fraud labels available by known_by_ms are recorded on their terminals; later ones are the
    chargeback feed's to deliver.
    """
    state = InMemoryFeatureState()
    history = canonical_order(history)
    frauds = labels[labels["is_fraud"]].merge(
        history[["request_id", "terminal_id", "timestamp_ms"]], on="request_id"
    )
    # Only the fold, not the features: the simulator's own rows need no validation, and computing
    # features nobody reads was most of a warm start's time (about 7 s of 250k events at the defaults).
    for event in history[_FOLDED_FIELDS].itertuples(index=False):
        update_customer(state.customer(event.customer_id), event)
        update_terminal(state.terminal(event.terminal_id), event.timestamp_ms)
    for row in frauds[frauds["label_available_ms"] <= known_by_ms].itertuples(index=False):
        state.terminal(row.terminal_id).record_fraud_label(int(row.timestamp_ms))
    last_event = history.groupby("customer_id").tail(1).set_index("customer_id")
    now_s = store.clock()
    items = [
        customer_item(
            customer_id,
            customer,
            (int(last_event.at[customer_id, "timestamp_ms"]), str(last_event.at[customer_id, "request_id"])),
            now_s,
        )
        for customer_id, customer in state.customers.items()
    ]
    items += [
        terminal_item(terminal_id, terminal, now_s) for terminal_id, terminal in state.terminals.items()
    ]
    never = store.put_items(items)
    if never:
        raise RuntimeError(f"{len(never)} feature-state items could not be written to {store.table}")
    return len(items)


def replay(
    kinesis,
    stream: str,
    events: pd.DataFrame,
    config: TrafficConfig,
    feed: ChargebackFeed | None = None,
    on_progress: Callable[[TrafficReport], None] = lambda report: None,
) -> TrafficReport:
    """Send events in time order at config.rate for config.duration_s (or until they run out)."""
    report = TrafficReport()
    payloads = event_payloads(events)
    clock = events["timestamp_ms"].to_numpy()
    total = min(len(payloads), int(config.rate * config.duration_s))
    rng = np.random.default_rng(config.seed)
    broken = rng.uniform(size=total) < config.malformed_share
    shards = ShardMap(kinesis, stream) if config.aggregate else None
    started = time.monotonic()
    while report.sent < total:
        due = min(total, int((time.monotonic() - started) * config.rate) + 1)
        if due <= report.sent:
            time.sleep(_TICK_S / 4)
            continue
        entries = []
        for index in range(report.sent, due):
            payload = payloads[index]
            if broken[index]:
                data, key = _malformed(index, payload)
                report.malformed += 1
            else:
                data, key = json.dumps(payload, default=_json_default).encode(), payload["customer_id"]
                report.request_ids.append(payload["request_id"])
            entries.append({"Data": data, "PartitionKey": key})
        if shards is not None:
            entries = packed_entries(entries, shards)
        report.kinesis_records += len(entries)
        _put(kinesis, stream, entries, report)
        report.sent = due
        if feed is not None:
            report.frauds_fed += feed.advance(int(clock[due - 1]))
        on_progress(report)
        time.sleep(_TICK_S)
    report.seconds = time.monotonic() - started
    return report


def _json_default(value):
    if isinstance(value, (np.floating, Decimal)):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


@dataclass(frozen=True)
class TrafficTargets:
    input_stream: str
    feature_state_table: str
    labels_table: str


def run_traffic(
    clients,
    targets: TrafficTargets,
    events: pd.DataFrame,
    labels: pd.DataFrame,
    config: TrafficConfig,
    on_progress: Callable[[TrafficReport], None] = lambda report: None,
) -> TrafficReport:
    """Seed online state with the days before config.start_day, then replay from there with labels.

    `clients(service)` returns a boto3 client.
    """
    first_day_ms = int(events["timestamp_ms"].min()) // MS_PER_DAY * MS_PER_DAY
    start_ms = first_day_ms + config.start_day * MS_PER_DAY
    history = events[events["timestamp_ms"] < start_ms]
    live = events[events["timestamp_ms"] >= start_ms]
    if live.empty:
        raise ValueError(f"start_day {config.start_day} is past the last simulated day; nothing to replay")
    live = live.iloc[config.offset : config.offset + int(config.rate * config.duration_s)]
    if live.empty:
        raise ValueError(f"offset {config.offset} is past the last event after start_day {config.start_day}")
    store = DynamoFeatureStore(clients("dynamodb"), targets.feature_state_table)
    seeded = (
        backfill_feature_state(store, history, labels, start_ms) if config.seed_state and len(history) else 0
    )
    live_labels = labels[labels["request_id"].isin(live["request_id"])]
    written = write_labels(clients("dynamodb"), targets.labels_table, live_labels, live)
    feed = ChargebackFeed(store, events, labels[labels["label_available_ms"] > start_ms])
    report = replay(clients("kinesis"), targets.input_stream, live, config, feed, on_progress)
    report.labels_written = written
    report.state_items_seeded = seeded
    return report
