"""DynamoDB state and semantics, no HTTP: tables, items, conditional writes, updates, batches, query, scan.

Items are stored as typed JSON, indexed by (table, hash key, range key) as type-tagged text. Query reads
one partition and orders it by the range key's typed value (N numerically, S/B bytewise).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from emulator.dynamodb.capacity import Consumed, read_units, write_units
from emulator.dynamodb.expressions import Node, Path, apply_update, evaluate, project
from emulator.dynamodb.ttl import TimeToLive
from emulator.dynamodb.values import (
    Item,
    check_item_size,
    equal,
    item_size,
    key_text,
    refuse_oversize,
    sort_key,
    value_size,
    value_type,
)
from emulator.protocol import json_codec
from emulator.protocol.errors import AwsError, validation_exception
from emulator.protocol.json_codec import Encoded
from emulator.state import Database
from emulator.stored_rows import decoded_rows

ACCOUNT = "000000000000"
MAX_BATCH_WRITE = 25
MAX_BATCH_GET = 100
MAX_TRANSACT_ITEMS = 100
MAX_PAGE_BYTES = 1024 * 1024
UNPROCESSED_RATE_ENV = "RTINFER_DYNAMODB_UNPROCESSED_RATE"
_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}\Z")
_RANGE_OPERATORS = {"=", "<", "<=", ">", ">="}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dynamodb_tables (name TEXT PRIMARY KEY, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dynamodb_items (
    tbl TEXT NOT NULL, hkey TEXT NOT NULL, rkey TEXT NOT NULL, item TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (tbl, hkey, rkey)
) WITHOUT ROWID;
"""
# `size` is the item's DynamoDB size, kept so that scans page by size and count without decoding items.


def _stored(item: Item) -> tuple[str, int]:
    """An item as stored: its JSON text and its size (refused over DynamoDB's 400 KB limit)."""
    return json_codec.dumps(item), check_item_size(item)


def _add_size_column(db: Database) -> None:
    """Bring a state directory written before the size column was kept up to date."""
    columns = {row["name"] for row in db.query("PRAGMA table_info(dynamodb_items)")}
    if "size" in columns:
        return
    with db.transaction() as conn:
        rows = conn.execute("SELECT tbl, hkey, rkey, item FROM dynamodb_items").fetchall()
        conn.execute("ALTER TABLE dynamodb_items ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
        conn.executemany(
            "UPDATE dynamodb_items SET size=? WHERE tbl=? AND hkey=? AND rkey=?",
            [(item_size(json.loads(row["item"])), row["tbl"], row["hkey"], row["rkey"]) for row in rows],
        )


def unprocessed_rate_from_env() -> float:
    """Fault knob: the share of BatchWriteItem requests left in UnprocessedItems (default 0)."""
    text = os.environ.get(UNPROCESSED_RATE_ENV, "0")
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{UNPROCESSED_RATE_ENV} must be a number in [0, 1], got {text!r}")
    return rate


@dataclass(frozen=True)
class KeySchema:
    hash_name: str
    hash_type: str
    range_name: str | None
    range_type: str | None

    @property
    def names(self) -> list[str]:
        return [self.hash_name] + ([self.range_name] if self.range_name else [])

    def key_of(self, item: Item) -> Item:
        return {name: item[name] for name in self.names}

    def key_from_index(self, index: tuple[str, str]) -> Item:
        """The key an (hkey, rkey) index stands for: the inverse of `index`."""
        key = {}
        for name, text in zip(self.names, index, strict=False):
            kind, _, payload = text.partition(":")
            key[name] = {kind: payload}
        return key

    def index(self, item: Item, exact: bool, where: str) -> tuple[str, str]:
        """(hkey, rkey) index texts of an item or key; `exact` demands nothing but the key attributes."""
        if exact and set(item) != set(self.names):
            raise validation_exception(
                f"The provided key element does not match the schema: {where} has {sorted(item)}, "
                f"the table's key is {self.names}"
            )
        texts = []
        for name, kind in ((self.hash_name, self.hash_type), (self.range_name, self.range_type)):
            if name is None:
                texts.append("")
                continue
            value = item.get(name)
            if value is None:
                raise validation_exception(
                    f"One or more parameter values were invalid: Missing the key {name} in the {where}"
                )
            if value_type(value) != kind:
                raise validation_exception(
                    f"One or more parameter values were invalid: Type mismatch for key {name} "
                    f"expected: {kind} actual: {value_type(value)}"
                )
            if value.get(kind) == "":
                raise validation_exception(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute "
                    f"cannot contain an empty string value. Key: {name}"
                )
            _check_key_size(value, name == self.hash_name)
            texts.append(key_text(value))
        return texts[0], texts[1]


# DynamoDB's limits on key values: 2048 bytes for a partition key, 1024 for a sort key.
MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024


def _check_key_size(value: dict, is_hash: bool) -> None:
    if value_type(value) == "N":  # 38 digits at most: always within the limits
        return
    size = value_size(value)
    if is_hash and size > MAX_HASH_KEY_BYTES:
        raise validation_exception(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
            f"limit of {MAX_HASH_KEY_BYTES} bytes"
        )
    if not is_hash and size > MAX_RANGE_KEY_BYTES:
        raise validation_exception(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
            f"the size limit of {MAX_RANGE_KEY_BYTES} bytes"
        )


@dataclass(frozen=True)
class Page:
    items: list[Item]  # empty when only the count was asked for
    count: int  # items that passed the filter
    scanned: int
    last_key: Item | None
    read_bytes: int = 0  # the summed size of every item evaluated (what the read consumes)


@dataclass(frozen=True)
class TransactAction:
    """One entry of TransactWriteItems: Put (key is the item), Update, Delete or ConditionCheck."""

    kind: str
    table: str
    key: Item
    condition: Node | None = None
    update: list[Node] | None = None
    return_old: bool = False  # ReturnValuesOnConditionCheckFailure=ALL_OLD


def _key_schema(description: dict) -> KeySchema:
    types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    names = {k["KeyType"]: k["AttributeName"] for k in description["KeySchema"]}
    range_name = names.get("RANGE")
    return KeySchema(names["HASH"], types[names["HASH"]], range_name, types.get(range_name or ""))


def _not_found(table: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Requested resource not found: Table: {table} not found")


def _conditional_failure(old: Item | None, return_old: bool) -> AwsError:
    fields = {"Item": old} if return_old and old else {}
    return AwsError("ConditionalCheckFailedException", "The conditional request failed", **fields)


class DynamoDBBackend:
    def __init__(
        self, db: Database, clock: Callable[[], float] = time.time, unprocessed_rate: float | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._unprocessed_rate = unprocessed_rate_from_env() if unprocessed_rate is None else unprocessed_rate
        self._random = random.Random()
        self._lock = threading.Lock()
        db.create_tables(_SCHEMA)
        _add_size_column(db)
        self._tables: dict[str, dict] = decoded_rows(
            db.query("SELECT * FROM dynamodb_tables"),
            "name",
            lambda row: json.loads(row["description"]),
            "table",
        )
        self._schemas: dict[str, tuple[dict, KeySchema]] = {}  # by table: its description and key schema
        self.ttl = TimeToLive(db, self._description, clock)

    # tables

    def _description(self, table: str) -> dict:
        found = self._tables.get(table)
        if found is None:
            raise _not_found(table)
        return found

    def schema(self, table: str) -> KeySchema:
        description = self._description(table)
        # worked out once per table (each request asks, some once per item); a table created again
        # under the same name has a new description
        known = self._schemas.get(table)
        if known is None or known[0] is not description:
            known = self._schemas[table] = (description, _key_schema(description))
        return known[1]

    def create_table(self, params: dict[str, Any]) -> dict:
        name = params.get("TableName", "")
        if not _NAME.match(name):
            raise validation_exception(f"TableName must be 3-255 characters of [a-zA-Z0-9_.-], got {name!r}")
        key_schema = params.get("KeySchema") or []
        definitions = params.get("AttributeDefinitions") or []
        _check_key_schema(key_schema, definitions)
        billing = params.get("BillingMode", "PROVISIONED")
        if billing not in ("PROVISIONED", "PAY_PER_REQUEST"):
            raise validation_exception(f"BillingMode must be PROVISIONED or PAY_PER_REQUEST, got {billing!r}")
        throughput = params.get("ProvisionedThroughput") or {}
        description = {
            "TableName": name,
            "TableArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}",
            "TableId": str(uuid.uuid4()),
            "TableStatus": "ACTIVE",
            "KeySchema": key_schema,
            "AttributeDefinitions": definitions,
            "BillingModeSummary": {"BillingMode": billing},
            "ProvisionedThroughput": {
                "ReadCapacityUnits": throughput.get("ReadCapacityUnits", 0),
                "WriteCapacityUnits": throughput.get("WriteCapacityUnits", 0),
                "NumberOfDecreasesToday": 0,
            },
            "CreationDateTime": self._clock(),
        }
        with self._lock, self._db.transaction() as conn:
            if name in self._tables:
                raise AwsError("ResourceInUseException", f"Table already exists: {name}")
            conn.execute("INSERT INTO dynamodb_tables VALUES (?, ?)", (name, json.dumps(description)))
            self._tables[name] = description
        return self.describe_table(name)

    def describe_table(self, table: str) -> dict:
        description = dict(self._description(table))
        (count,) = self._db.query("SELECT count(*), sum(size) FROM dynamodb_items WHERE tbl=?", (table,))
        description["ItemCount"] = count[0]
        description["TableSizeBytes"] = count[1] or 0
        return description

    def delete_table(self, table: str) -> dict:
        description = {**self.describe_table(table), "TableStatus": "DELETING"}
        with self._lock, self._db.transaction() as conn:
            conn.execute("DELETE FROM dynamodb_tables WHERE name=?", (table,))
            conn.execute("DELETE FROM dynamodb_items WHERE tbl=?", (table,))
            self.ttl.forget(conn, table)
            self._tables.pop(table, None)
        return description

    def list_tables(self, start: str | None, limit: int) -> tuple[list[str], str | None]:
        names = [name for name in sorted(self._tables) if start is None or name > start]
        page = names[:limit]
        return page, (page[-1] if len(names) > limit else None)

    # single items

    def _load(self, conn: Any, table: str, index: tuple[str, str]) -> tuple[Item | None, int]:
        """The stored item (None when absent) and its size (0 when absent)."""
        row = conn.execute(
            "SELECT item, size FROM dynamodb_items WHERE tbl=? AND hkey=? AND rkey=?", (table, *index)
        ).fetchone()
        return (json_codec.loads(row[0]), row[1]) if row else (None, 0)

    def _put_in(
        self, conn: Any, table: str, item: Item, condition: Node | None, return_old: bool, consumed: Consumed
    ) -> Item | None:
        index = self.schema(table).index(item, exact=False, where="item")
        stored = _stored(item)
        old, old_size = self._load(conn, table, index)
        consumed.write(table, write_units(max(old_size, stored[1])))
        if condition is not None and not evaluate(condition, old or {}):
            raise _conditional_failure(old, return_old)
        conn.execute(_put_statement(1), (table, *index, *stored))
        return old

    def put_item(
        self,
        table: str,
        item: Item,
        condition: Node | None = None,
        return_old_on_failure: bool = False,
        consumed: Consumed | None = None,
    ) -> Item | None:
        """Store `item`; returns the item it replaced (for ReturnValues=ALL_OLD)."""
        with self._db.transaction() as conn:
            return self._put_in(conn, table, item, condition, return_old_on_failure, consumed or Consumed())

    def get_item(
        self,
        table: str,
        key: Item,
        projection: list[Path] | None = None,
        consistent: bool = False,
        consumed: Consumed | None = None,
    ) -> Item | None:
        index = self.schema(table).index(key, exact=True, where="key")
        with self._db.read() as conn:
            item, size = self._load(conn, table, index)
        (consumed or Consumed()).read(table, read_units(size, consistent))
        return project(item, projection) if item is not None and projection else item

    def _delete_in(
        self, conn: Any, table: str, key: Item, condition: Node | None, return_old: bool, consumed: Consumed
    ) -> Item | None:
        index = self.schema(table).index(key, exact=True, where="key")
        old, old_size = self._load(conn, table, index)
        consumed.write(table, write_units(old_size))
        if condition is not None and not evaluate(condition, old or {}):
            raise _conditional_failure(old, return_old)
        conn.execute("DELETE FROM dynamodb_items WHERE tbl=? AND hkey=? AND rkey=?", (table, *index))
        return old

    def delete_item(
        self,
        table: str,
        key: Item,
        condition: Node | None = None,
        return_old_on_failure: bool = False,
        consumed: Consumed | None = None,
    ) -> Item | None:
        with self._db.transaction() as conn:
            return self._delete_in(conn, table, key, condition, return_old_on_failure, consumed or Consumed())

    def _update_in(
        self,
        conn: Any,
        table: str,
        key: Item,
        actions: list[Node],
        condition: Node | None,
        return_old: bool,
        consumed: Consumed,
    ) -> tuple[Item | None, Item, list[str]]:
        schema = self.schema(table)
        index = schema.index(key, exact=True, where="key")
        _check_update_keeps_key(actions, schema)
        old, old_size = self._load(conn, table, index)
        if condition is not None and not evaluate(condition, old or {}):
            consumed.write(table, write_units(old_size))
            raise _conditional_failure(old, return_old)
        new, new_size, touched = _updated(old, old_size, key, actions)
        stored = (json_codec.dumps(new), refuse_oversize(new_size))
        consumed.write(table, write_units(max(old_size, new_size)))
        conn.execute(_put_statement(1), (table, *index, *stored))
        return old, new, touched

    def update_item(
        self,
        table: str,
        key: Item,
        actions: list[Node],
        condition: Node | None = None,
        return_values: str = "NONE",
        return_old_on_failure: bool = False,
        consumed: Consumed | None = None,
    ) -> Item | None:
        """Apply an UpdateExpression (creating the item if absent); returns what ReturnValues asks for."""
        with self._db.transaction() as conn:
            old, new, touched = self._update_in(
                conn, table, key, actions, condition, return_old_on_failure, consumed or Consumed()
            )
        if return_values == "ALL_NEW":
            return new
        if return_values == "ALL_OLD":
            return old
        source = new if return_values == "UPDATED_NEW" else (old or {})
        return {name: source[name] for name in touched if name in source} if return_values != "NONE" else None

    # transactions

    def transact_write(self, actions: list[TransactAction], consumed: Consumed | None = None) -> None:
        """All actions or none, in one SQLite transaction (TransactWriteItems); each action consumes
        twice the units of its write, whether the transaction commits or is cancelled."""
        consumed = consumed or Consumed()
        if not 1 <= len(actions) <= MAX_TRANSACT_ITEMS:
            raise validation_exception(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_TRANSACT_ITEMS} (got {len(actions)})"
            )
        targets = [
            (a.table, self.schema(a.table).index(a.key, exact=a.kind != "Put", where="key")) for a in actions
        ]
        if len(set(targets)) != len(targets):
            raise validation_exception("Transaction request cannot include multiple operations on one item")
        with self._db.transaction() as conn:
            # one read of every target and one write of the results: few steps while holding the lock
            current = _decoded(_load_many(conn, [(table, *index) for table, index in targets]))
            reasons = []
            for action, (table, index) in zip(actions, targets, strict=True):
                old = current.get((table, *index), (None, 0))[0]
                passed = action.condition is None or evaluate(action.condition, old or {})
                if passed:
                    reasons.append({"Code": "None"})
                    continue
                reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if action.return_old and old:
                    reason["Item"] = old
                reasons.append(reason)
            if any(reason["Code"] != "None" for reason in reasons):
                for table, index in targets:
                    consumed.write(table, 2 * write_units(current.get((table, *index), (None, 0))[1]))
                codes = ", ".join(reason["Code"] for reason in reasons)
                raise AwsError(
                    "TransactionCanceledException",
                    "Transaction cancelled, please refer cancellation reasons for specific reasons "
                    f"[{codes}]",
                    CancellationReasons=reasons,
                )
            puts: list[tuple[str, str, str, str, int]] = []
            deletes: list[tuple[str, str, str]] = []
            for action, (table, index) in zip(actions, targets, strict=True):
                old, old_size = current.get((table, *index), (None, 0))
                new, new_size = _transacted(action, old, old_size, self.schema(table))
                consumed.write(table, 2 * write_units(max(old_size, new_size)))
                if action.kind in ("Put", "Update"):
                    puts.append((table, *index, json_codec.dumps(new), refuse_oversize(new_size)))
                elif action.kind == "Delete":
                    deletes.append((table, *index))
            if puts:
                conn.execute(
                    _put_statement(len(puts)),
                    [value for row in puts for value in row],
                )
            if deletes:
                conn.executemany("DELETE FROM dynamodb_items WHERE tbl=? AND hkey=? AND rkey=?", deletes)

    # batches

    def batch_write(
        self, requests: dict[str, list[dict]], consumed: Consumed | None = None
    ) -> dict[str, list[dict]]:
        """Apply Put/Delete requests in one transaction; returns UnprocessedItems (see the fault knob).
        Each processed request consumes what its PutItem or DeleteItem would."""
        consumed = consumed or Consumed()
        total = sum(len(entries) for entries in requests.values())
        if not 1 <= total <= MAX_BATCH_WRITE:
            raise validation_exception(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_BATCH_WRITE} (got {total} requests)"
            )
        writes: list[tuple[str, str, str, tuple[str, int] | None]] = []
        unprocessed: dict[str, list[dict]] = {}
        for table, entries in requests.items():
            schema = self.schema(table)
            seen: set[tuple[str, str]] = set()
            for entry in entries:
                if "PutRequest" in entry:
                    item = entry["PutRequest"]["Item"]
                    index = schema.index(item, exact=False, where="item")
                    body: tuple[str, int] | None = _stored(item)
                elif "DeleteRequest" in entry:
                    index, body = schema.index(entry["DeleteRequest"]["Key"], exact=True, where="key"), None
                else:
                    raise validation_exception(
                        f"Each WriteRequest for {table} needs a PutRequest or a DeleteRequest, "
                        f"got {sorted(entry)}"
                    )
                if index in seen:
                    raise validation_exception("Provided list of item keys contains duplicates")
                seen.add(index)
                if self._unprocessed_rate and self._random.random() < self._unprocessed_rate:
                    unprocessed.setdefault(table, []).append(entry)
                else:
                    writes.append((table, *index, body))
        puts = [(*w[:3], *w[3]) for w in writes if w[3] is not None]
        deletes = [w[:3] for w in writes if w[3] is None]
        if puts or deletes:
            with self._db.transaction() as conn:  # one statement for the puts: few steps under the lock
                old_sizes = _sizes(conn, [w[:3] for w in writes])
                for table, hkey, rkey, body in writes:
                    new_size = body[1] if body is not None else 0
                    consumed.write(table, write_units(max(old_sizes.get((table, hkey, rkey), 0), new_size)))
                if puts:
                    conn.execute(
                        _put_statement(len(puts)),
                        [value for row in puts for value in row],
                    )
                conn.executemany("DELETE FROM dynamodb_items WHERE tbl=? AND hkey=? AND rkey=?", deletes)
        return unprocessed

    def batch_get(
        self,
        table: str,
        keys: list[Item],
        projection: list[Path] | None,
        consistent: bool = False,
        consumed: Consumed | None = None,
        encoded: bool = False,
    ) -> list[Item] | list[Encoded]:
        """The items found; with `encoded` and no projection, as their stored JSON (for a response,
        which then needs no decoding and encoding of them)."""
        schema = self.schema(table)
        indexes = [schema.index(key, exact=True, where="key") for key in keys]
        if len(set(indexes)) != len(indexes):
            raise validation_exception("Provided list of item keys contains duplicates")
        with self._db.read() as conn:
            found = _load_many(conn, [(table, *index) for index in indexes])
        consumed = consumed or Consumed()
        texts = []
        for index in indexes:  # every key read is rounded up on its own, found or not
            text, size = found.get((table, *index), (None, 0))
            consumed.read(table, read_units(size, consistent))
            if text is not None:
                texts.append(text)
        if encoded and not projection:
            return [Encoded(text) for text in texts]
        items = [json_codec.loads(text) for text in texts]
        return [project(item, projection) for item in items] if projection else items

    # reads over many items

    def query(
        self,
        table: str,
        key_condition: Node,
        filter_condition: Node | None = None,
        forward: bool = True,
        limit: int | None = None,
        start_key: Item | None = None,
        projection: list[Path] | None = None,
        count_only: bool = False,
        consistent: bool = False,
        consumed: Consumed | None = None,
    ) -> Page:
        schema = self.schema(table)
        hash_value, range_term = _split_key_condition(key_condition, schema)
        hkey = key_text(hash_value)
        rows = self._db.query(
            "SELECT hkey, rkey, item, size FROM dynamodb_items WHERE tbl=? AND hkey=?", (table, hkey)
        )
        items = [_Stored((h, r), text, size) for h, r, text, size in rows]
        if range_term is not None:
            items = [stored for stored in items if evaluate(range_term, stored.item)]
        if schema.range_name:
            items.sort(key=lambda stored: sort_key(stored.item[schema.range_name]), reverse=not forward)
        if start_key is not None:
            start_index = schema.index(start_key, exact=True, where="ExclusiveStartKey")
            if start_index[0] != hkey:
                raise validation_exception("The provided starting key does not match the query's hash key")
            items = _after(items, start_key, schema, forward)
        page = _page(items, limit, filter_condition, projection, schema, count_only)
        (consumed or Consumed()).read(table, read_units(page.read_bytes, consistent))
        return page

    def scan(
        self,
        table: str,
        filter_condition: Node | None = None,
        limit: int | None = None,
        start_key: Item | None = None,
        projection: list[Path] | None = None,
        count_only: bool = False,
        consistent: bool = False,
        consumed: Consumed | None = None,
    ) -> Page:
        schema = self.schema(table)
        start = schema.index(start_key, exact=True, where="ExclusiveStartKey") if start_key else ("", "")
        with self._db.read() as conn:  # one snapshot, read a chunk at a time until the page is full
            # a count without a filter reads keys and sizes only
            stored = _scan_items(
                conn, table, start, with_items=not count_only or filter_condition is not None
            )
            page = _page(stored, limit, filter_condition, projection, schema, count_only)
        (consumed or Consumed()).read(table, read_units(page.read_bytes, consistent))
        return page


_SCAN_CHUNK = 1000


def _rows(count: int, width: int) -> str:
    """`(?, ?), (?, ?)`: the VALUES of a multi-row statement (one step instead of one per row)."""
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * count)


def _put_statement(count: int) -> str:
    """Store `count` items, each replacing the one under its key. An upsert rather than INSERT OR
    REPLACE: SQLite then rewrites a row in place (only the pages that changed) instead of deleting and
    inserting it, which takes about half the time and writes fewer pages to the WAL."""
    return (
        "INSERT INTO dynamodb_items VALUES "
        + _rows(count, 5)
        + " ON CONFLICT (tbl, hkey, rkey) DO UPDATE SET item = excluded.item, size = excluded.size"
    )


def _load_many(conn: Any, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], tuple[str, int]]:
    """Stored items' JSON texts and sizes by (table, hkey, rkey), read in one step (two aggregates over
    the same rows) rather than one per row. The texts are joined by a record separator, which valid
    JSON text never holds unescaped; callers decode only the texts they need as items."""
    found: dict[tuple[str, str, str], tuple[str, int]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        index_text, items_text = conn.execute(
            "SELECT json_group_array(json_array(d.tbl, d.hkey, d.rkey, d.size)), "
            "group_concat(d.item, char(30)) FROM (VALUES " + _rows(len(chunk), 3) + ") AS k "
            "JOIN dynamodb_items AS d ON d.tbl = k.column1 AND d.hkey = k.column2 AND d.rkey = k.column3",
            [value for key in chunk for value in key],
        ).fetchone()
        if items_text is None:
            continue
        for (table, hkey, rkey, size), text in zip(
            json_codec.loads(index_text), items_text.split("\x1e"), strict=True
        ):
            found[(table, hkey, rkey)] = (text, size)
    return found


_StoredKey = tuple[str, str, str]  # table, hkey, rkey


def _decoded(found: dict[_StoredKey, tuple[str, int]]) -> dict[_StoredKey, tuple[Item, int]]:
    return {key: (json_codec.loads(text), size) for key, (text, size) in found.items()}


def _sizes(conn: Any, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """Stored items' sizes by (table, hkey, rkey), without decoding them."""
    found: dict[tuple[str, str, str], int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = conn.execute(
            "SELECT d.tbl, d.hkey, d.rkey, d.size FROM (VALUES "
            + _rows(len(chunk), 3)
            + ") AS k JOIN dynamodb_items AS d "
            "ON d.tbl = k.column1 AND d.hkey = k.column2 AND d.rkey = k.column3",
            [value for key in chunk for value in key],
        ).fetchall()
        for table, hkey, rkey, size in rows:
            found[(table, hkey, rkey)] = size
    return found


def _transacted(
    action: TransactAction, old: Item | None, old_size: int, schema: KeySchema
) -> tuple[Item | None, int]:
    """The item a transaction action leaves (None for Delete; the old item for ConditionCheck), and
    its size."""
    if action.kind == "Put":
        return action.key, item_size(action.key)
    if action.kind == "Update":
        _check_update_keeps_key(action.update, schema)
        new, new_size, _ = _updated(old, old_size, action.key, action.update)
        return new, new_size
    return (None, 0) if action.kind == "Delete" else (old, old_size)


class _Stored:
    """A stored item's index and size, its JSON text decoded only when something reads it."""

    __slots__ = ("_item", "index", "size", "text")

    def __init__(self, index: tuple[str, str], text: str | None, size: int) -> None:
        self.index, self.text, self.size, self._item = index, text, size, None

    @property
    def item(self) -> Item:
        if self._item is None:
            self._item = json_codec.loads(self.text)
        return self._item


def _scan_items(conn: Any, table: str, start: tuple[str, str], with_items: bool = True) -> Iterator[_Stored]:
    """A table's items in key order after `start`, fetched a chunk (one step) at a time."""
    item_column = "item" if with_items else "NULL"
    while True:
        (text,) = conn.execute(
            f"SELECT json_group_array(json_array(hkey, rkey, {item_column}, size)) FROM ("
            "SELECT hkey, rkey, item, size FROM dynamodb_items WHERE tbl=? AND (hkey, rkey) > (?, ?) "
            "ORDER BY hkey, rkey LIMIT ?)",
            (table, *start, _SCAN_CHUNK),
        ).fetchone()
        rows = sorted(json_codec.loads(text), key=lambda row: (row[0], row[1]))
        for hkey, rkey, item_text, size in rows:
            yield _Stored((hkey, rkey), item_text, size)
        if len(rows) < _SCAN_CHUNK:
            return
        start = (rows[-1][0], rows[-1][1])


def _check_update_keeps_key(actions: list[Node], schema: KeySchema) -> None:
    for action in actions:
        if action[1][0] in schema.names:
            raise validation_exception(
                f"One or more parameter values were invalid: Cannot update attribute {action[1][0]}. "
                "This attribute is part of the key"
            )


def _updated(old: Item | None, old_size: int, key: Item, actions: list[Node]) -> tuple[Item, int, set[str]]:
    """The item after an UpdateExpression (created from its key if absent), its size, and the top-level
    attributes touched.

    `old` stays as it was: only an action on a nested path changes a value in place, so without one a
    shallow copy will do. Sizes add up by top-level attribute, so the new size is the old one
    (`old_size`, as stored) with the touched attributes' sizes swapped.
    """
    if not old:
        new = dict(key)
        touched = apply_update(new, actions)
        return new, item_size(new), touched
    nested = any(len(action[1]) > 1 for action in actions)
    new = json_codec.loads(json_codec.dumps(old)) if nested else dict(old)
    touched = apply_update(new, actions)
    before = item_size({name: old[name] for name in touched if name in old})
    after = item_size({name: new[name] for name in touched if name in new})
    return new, old_size - before + after, touched


def _check_key_schema(key_schema: list[dict], definitions: list[dict]) -> None:
    kinds = [k.get("KeyType") for k in key_schema]
    if kinds not in (["HASH"], ["HASH", "RANGE"]):
        raise validation_exception(
            f"KeySchema must be one HASH key optionally followed by one RANGE key, got key types {kinds}"
        )
    types = {d.get("AttributeName"): d.get("AttributeType") for d in definitions}
    for key in key_schema:
        if types.get(key.get("AttributeName")) not in ("S", "N", "B"):
            raise validation_exception(
                "One or more parameter values were invalid: key attribute "
                f"{key.get('AttributeName')!r} needs an AttributeDefinitions entry of type S, N or B"
            )
    if len(definitions) != len(key_schema):
        raise validation_exception(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not "
            "exactly match number of attributes defined in AttributeDefinitions"
        )


def _split_key_condition(node: Node, schema: KeySchema) -> tuple[dict, Node | None]:
    """(hash key value, range-key condition or None) from a KeyConditionExpression, validated."""
    terms = [node[1], node[2]] if node[0] == "and" else [node]
    hash_value, range_term = None, None
    for term in terms:
        attribute = _key_term_attribute(term)
        if (
            attribute == schema.hash_name
            and term[0] == "compare"
            and term[1] == "="
            and term[3][0] == "value"
        ):
            hash_value = term[3][1]
        elif attribute is not None and attribute == schema.range_name and range_term is None:
            range_term = term
        else:
            raise validation_exception(f"Query key condition not supported: {_describe(term)}")
    if hash_value is None:
        raise validation_exception(f"Query condition missed key schema element: {schema.hash_name}")
    if value_type(hash_value) != schema.hash_type:
        raise validation_exception(
            f"One or more parameter values were invalid: Condition parameter type does not match schema type "
            f"for {schema.hash_name}"
        )
    return hash_value, range_term


def _key_term_attribute(term: Node) -> str | None:
    """The key attribute a single key-condition term constrains, if the term has an allowed shape."""
    if term[0] == "compare" and term[1] in _RANGE_OPERATORS:
        operands = (term[2], term[3])
    elif term[0] == "between":
        operands = (term[1], term[2], term[3])
    elif term[0] == "function" and term[1] == "begins_with":
        operands = tuple(term[2])
    else:
        return None
    first, rest = operands[0], operands[1:]
    if first[0] != "path" or len(first[1]) != 1 or any(o[0] != "value" for o in rest):
        return None
    return str(first[1][0])


def _describe(term: Node) -> str:
    return term[1] if term[0] in ("compare", "function") else term[0]


def _after(items: list[_Stored], start_key: Item, schema: KeySchema, forward: bool) -> list[_Stored]:
    if not schema.range_name:
        return [s for s in items if not equal(s.item[schema.hash_name], start_key[schema.hash_name])]
    start = sort_key(start_key[schema.range_name])
    return [
        s
        for s in items
        if (sort_key(s.item[schema.range_name]) > start) == forward
        and not equal(s.item[schema.range_name], start_key[schema.range_name])
    ]


def _page(
    items: Iterable[_Stored],
    limit: int | None,
    filter_condition: Node | None,
    projection: list[Path] | None,
    schema: KeySchema,
    count_only: bool = False,
) -> Page:
    """A page ends at `limit` evaluated items (counted before the filter) or at 1 MB, as in DynamoDB.

    Items are decoded only when the filter, the projection or the caller reads them: a Select=COUNT
    without a filter pages through sizes alone.
    """
    evaluated: list[_Stored] = []
    size = 0
    more = False  # whether an item follows the page
    for stored in items:
        if (limit and len(evaluated) >= limit) or size >= MAX_PAGE_BYTES:
            more = True
            break
        evaluated.append(stored)
        size += stored.size
    last_key = schema.key_from_index(evaluated[-1].index) if evaluated and more else None
    scanned = len(evaluated)
    if filter_condition is not None:
        evaluated = [s for s in evaluated if evaluate(filter_condition, s.item)]
    if count_only:
        return Page([], len(evaluated), scanned, last_key, size)
    matched = [s.item for s in evaluated]
    if projection:
        matched = [project(item, projection) for item in matched]
    return Page(matched, len(matched), scanned, last_key, size)
