"""Online feature state in DynamoDB: one item per customer, one per terminal.

Customer items hold one Binary attribute: the last request applied to the customer, then its packed
CustomerState (CustomerState.to_bytes; bounded by the caps in serving/features.py, whose docstring
works out the worst-case item size). One attribute rather than a map beside it: botocore parses
every attribute value of every item read, and the map took two thirds of a customer item's parsing.
Items earlier releases wrote (the bare packed state or JSON text, with an `applied_through` map)
still load. A customer's
events all travel on one shard in order (the partition key is the customer id), so one writer at a
time updates a customer; an event at or before the last applied one is a replay and changes nothing.

Terminal items are per-day counters (`n_<day>`, `f_<day>` for known frauds) updated with atomic ADDs,
because a terminal sees events from every shard at once. A replayed batch adds its counts again:
terminal counts are at-least-once, which a retry can inflate by the size of the retried batch.
Within one execution environment a terminal's counts are read once per event day and at most every
TERMINAL_STATE_MAX_AGE_SECONDS (serving/consumer/terminal_cache.py): its features read only past days.

Every item carries its expiry for the table's TTL (STATE_TTL_ATTRIBUTE, epoch seconds): HISTORY_DAYS
after the later of its last event and its last write. No window reads further back, so an idle
entity's state is useless by then; counting from the write as well keeps a replay of old events (or a
lagging shard) from writing items that are already expired.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from serving.consumer.retrying import resend_in_chunks
from serving.consumer.terminal_cache import TerminalCache
from serving.features import HISTORY_DAYS, MS_PER_DAY, CustomerState, TerminalState
from serving.schemas import clipped

STATE_TTL_ATTRIBUTE = "expires_at"  # the feature-state table's TTL attribute (epoch seconds)
_GET_CHUNK = 100  # BatchGetItem's key limit
_WRITE_CHUNK = 25  # BatchWriteItem's item limit
_TRANSACT_CHUNK = 100  # TransactWriteItems' action limit


# The stored customer attribute: frame version, the applied event's timestamp_ms, the length of its
# request id; then the id's UTF-8 and the packed state. The version differs from PACKED_VERSION, the
# first byte of a bare packed state as the previous release stored it.
_APPLIED = struct.Struct("<BqH")
APPLIED_FRAME_VERSION = 0x80


def customer_key(customer_id: str) -> dict:
    return {"pk": {"S": f"C#{customer_id}"}}


def terminal_key(terminal_id: str) -> dict:
    return {"pk": {"S": f"T#{terminal_id}"}}


def expires_at(last_event_ms: int, now_s: float) -> int:
    """The TTL of a state item: HISTORY_DAYS after its last event or its write, whichever is later."""
    return max(int(now_s), last_event_ms // 1000) + HISTORY_DAYS * 86_400


def customer_item(
    customer_id: str, state: CustomerState, applied_through: tuple[int, str], now_s: float
) -> dict:
    timestamp_ms, request_id = applied_through
    rid = request_id.encode("utf-8")
    frame = _APPLIED.pack(APPLIED_FRAME_VERSION, timestamp_ms, len(rid)) + rid + state.to_bytes()
    return {
        **customer_key(customer_id),
        "state": {"B": frame},
        STATE_TTL_ATTRIBUTE: {"N": str(expires_at(state.last_ms or 0, now_s))},
    }


def terminal_item(terminal_id: str, state: TerminalState, now_s: float) -> dict:
    """A whole terminal item (for seeding state; live updates are atomic ADDs, see add_terminal_counts)."""
    item = terminal_key(terminal_id)
    item.update({f"n_{day}": {"N": str(count)} for day, count in state.daily_counts.items()})
    item.update({f"f_{day}": {"N": str(count)} for day, count in state.daily_known_frauds.items()})
    last_day = max(state.daily_counts, default=0)
    item[STATE_TTL_ATTRIBUTE] = {"N": str(expires_at((last_day + 1) * MS_PER_DAY, now_s))}
    return item


def terminal_state_from_item(item: dict) -> TerminalState:
    state = TerminalState()
    by_prefix = {"n_": state.daily_counts, "f_": state.daily_known_frauds}
    for name, value in item.items():
        days = by_prefix.get(name[:2])
        if days is not None:
            days[int(name[2:])] = int(value["N"])
    return state


@dataclass
class LoadedCustomer:
    state: CustomerState
    applied_through: tuple[int, str] | None  # (timestamp_ms, request_id) of the last applied event
    stored_through: tuple[int, str] | None = None  # applied_through as loaded: unchanged, no write

    @property
    def changed(self) -> bool:
        return self.applied_through is not None and self.applied_through != self.stored_through


@dataclass
class BatchState:
    customers: dict[str, LoadedCustomer] = field(default_factory=dict)
    terminals: dict[str, TerminalState] = field(default_factory=dict)
    # Items that could not be read back, by key ("C#id", "T#id") -> why: their events are
    # dead-lettered with that reason rather than scored on a state that was lost.
    damaged: dict[str, str] = field(default_factory=dict)

    def damage_of(self, customer_id: str, terminal_id: str) -> str | None:
        return self.damaged.get(f"C#{customer_id}") or self.damaged.get(f"T#{terminal_id}")


def customer_from_item(item: dict) -> LoadedCustomer:
    value = item["state"]
    data = value.get("B")
    if data is not None and data[:1] == bytes([APPLIED_FRAME_VERSION]):
        _, timestamp_ms, length = _APPLIED.unpack_from(data)
        start = _APPLIED.size
        request_id = data[start : start + length].decode("utf-8")
        through = (timestamp_ms, request_id)
        return LoadedCustomer(CustomerState.from_bytes(data[start + length :]), through, through)
    # As earlier releases wrote it: the bare packed state, or JSON text, with a map beside it.
    state = (
        CustomerState.from_bytes(data)
        if data is not None
        else CustomerState.from_dict(json.loads(value["S"]))
    )
    applied = item.get("applied_through")
    through = None if applied is None else (int(applied["M"]["ts"]["N"]), applied["M"]["rid"]["S"])
    return LoadedCustomer(state, through, through)


class StateStoreError(RuntimeError):
    pass


class DynamoFeatureStore:
    def __init__(
        self,
        dynamodb,
        table: str,
        clock: Callable[[], float] = time.time,
        terminal_cache: TerminalCache | None = None,
    ):
        self.dynamodb = dynamodb
        self.table = table
        self.clock = clock  # epoch seconds, for the items' TTL
        self.terminal_cache = terminal_cache

    def load(
        self, customer_ids: set[str], terminal_ids: set[str], through_day: int | None = None
    ) -> BatchState:
        """The batch's entity states. Given `through_day` (the batch's latest event day), terminals
        the cache holds for it are not read again (serving/consumer/terminal_cache.py)."""
        state = BatchState()
        cache = self.terminal_cache if through_day is not None else None
        to_read = set(terminal_ids)
        if cache is not None:
            for terminal_id in terminal_ids:
                cached = cache.get(terminal_id, through_day)
                if cached is not None:
                    state.terminals[terminal_id] = cached
                    to_read.discard(terminal_id)
        keys = [customer_key(c) for c in sorted(customer_ids)] + [terminal_key(t) for t in sorted(to_read)]
        items: list[dict] = []

        def get(chunk: list[dict]) -> list[dict]:
            response = self.dynamodb.batch_get_item(RequestItems={self.table: {"Keys": chunk}})
            items.extend(response.get("Responses", {}).get(self.table, []))
            return response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])

        missing = resend_in_chunks(get, keys, _GET_CHUNK)
        if missing:
            raise StateStoreError(f"could not read {len(missing)} feature-state items from {self.table}")
        for item in items:
            key = item["pk"]["S"]
            kind, entity = key.split("#", 1)
            try:
                if kind == "C":
                    state.customers[entity] = customer_from_item(item)
                else:
                    state.terminals[entity] = terminal_state_from_item(item)
            except Exception as error:  # one damaged item must not fail every batch that reads it
                problem = f"{type(error).__name__}: {clipped(str(error), 200)}"
                state.damaged[key] = f"feature state item {key} in {self.table} is damaged: {problem}"
        for customer_id in customer_ids - state.customers.keys():
            state.customers[customer_id] = LoadedCustomer(CustomerState(), None)
        for terminal_id in terminal_ids - state.terminals.keys():
            state.terminals[terminal_id] = TerminalState()
        if cache is not None:  # a damaged item is read again next time: its events keep saying why
            for terminal_id in to_read:
                if f"T#{terminal_id}" not in state.damaged:
                    cache.put(terminal_id, state.terminals[terminal_id], through_day)
        return state

    def put_items(self, items: list[dict]) -> list[dict]:
        """BatchWriteItem, resending unprocessed items with backoff; return the items never written."""

        def write(chunk: list[dict]) -> list[dict]:
            response = self.dynamodb.batch_write_item(RequestItems={self.table: chunk})
            return response.get("UnprocessedItems", {}).get(self.table, [])

        never = resend_in_chunks(write, [{"PutRequest": {"Item": item}} for item in items], _WRITE_CHUNK)
        return [request["PutRequest"]["Item"] for request in never]

    def save_customers(self, customers: dict[str, LoadedCustomer]) -> list[str]:
        """Write the customers this batch changed; return the ids that could not be written."""
        now_s = self.clock()
        items = [
            customer_item(customer_id, loaded.state, loaded.applied_through, now_s)
            for customer_id, loaded in customers.items()
            if loaded.changed  # a replayed batch applies nothing: its customers need no write
        ]
        return [item["pk"]["S"][2:] for item in self.put_items(items)]

    def add_terminal_counts(
        self, increments: dict[str, dict[int, int]], loaded: dict[str, TerminalState]
    ) -> list[str]:
        """Atomically add per-day transaction counts and drop days no window reads any more.

        One TransactWriteItems call carries up to 100 terminals' updates. Returns the terminal ids
        whose update failed.
        """
        now_s = self.clock()
        updates = [
            self._terminal_update(terminal_id, by_day, loaded.get(terminal_id), now_s)
            for terminal_id, by_day in increments.items()
        ]

        def transact(chunk: list[dict]) -> list[dict]:
            self.dynamodb.transact_write_items(TransactItems=chunk)
            return []

        failed = resend_in_chunks(transact, updates, _TRANSACT_CHUNK)
        return [update["Update"]["Key"]["pk"]["S"][2:] for update in failed]

    def _terminal_update(
        self, terminal_id: str, by_day: dict[int, int], known: TerminalState | None, now_s: float
    ) -> dict:
        horizon = max(by_day) - HISTORY_DAYS
        known = known or TerminalState()
        stale = [f"n_{d}" for d in known.daily_counts if d < horizon]
        stale += [f"f_{d}" for d in known.daily_known_frauds if d < horizon]
        names = {f"#n{i}": f"n_{day}" for i, day in enumerate(by_day)}
        names.update({f"#o{i}": name for i, name in enumerate(stale)})
        values = {f":n{i}": {"N": str(count)} for i, count in enumerate(by_day.values())}
        names["#ttl"] = STATE_TTL_ATTRIBUTE
        values[":ttl"] = {"N": str(expires_at((max(by_day) + 1) * MS_PER_DAY, now_s))}
        expression = "SET #ttl = :ttl ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(by_day)))
        if stale:
            expression += " REMOVE " + ", ".join(f"#o{i}" for i in range(len(stale)))
        return {
            "Update": {
                "TableName": self.table,
                "Key": terminal_key(terminal_id),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def add_known_fraud(self, terminal_id: str, transaction_ms: int) -> None:
        """What the chargeback feed calls when a fraud label becomes known."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key=terminal_key(terminal_id),
            UpdateExpression="SET #ttl = :ttl ADD #f :one",
            ExpressionAttributeNames={"#f": f"f_{transaction_ms // MS_PER_DAY}", "#ttl": STATE_TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":ttl": {"N": str(expires_at(transaction_ms, self.clock()))},
            },
        )
