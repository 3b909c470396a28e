"""Capacity units by DynamoDB's own rules: what a request consumes, for ReturnConsumedCapacity and for the
ConsumedRead/WriteCapacityUnits metrics (the same count; on-demand tables bill it as request units).

- A write consumes 1 unit per 1 KB of item, rounded up per item, at least 1; the size that counts is the
  larger of the item before and after (PutItem, UpdateItem), the deleted item for DeleteItem. A write
  whose condition fails still consumes it.
- A read consumes 1 unit per 4 KB, rounded up per item (GetItem, BatchGetItem) or over the summed size of
  every item evaluated (Query, Scan: before the filter), at least 1; half when eventually consistent. A
  projection does not reduce it.
- Transactional writes consume twice the units.
Item size is attribute names plus values (emulator.dynamodb.values.item_size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emulator.protocol.errors import validation_exception

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
RETURN_MODES = ("NONE", "TOTAL", "INDEXES")


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass
class TableUnits:
    read: float = 0.0
    write: float = 0.0
    requests: int = 0  # how many requests touched the table (each a metric sample)


@dataclass
class Consumed:
    """Units consumed by one request, per table (a batch or transaction can span several)."""

    tables: dict[str, TableUnits] = field(default_factory=dict)

    def _table(self, table: str) -> TableUnits:
        found = self.tables.get(table)
        if found is None:
            found = self.tables[table] = TableUnits(requests=1)
        return found

    def read(self, table: str, units: float) -> None:
        self._table(table).read += units

    def write(self, table: str, units: float) -> None:
        self._table(table).write += units


def return_mode(params: dict) -> str:
    """ReturnConsumedCapacity, validated (NONE when absent)."""
    mode = params.get("ReturnConsumedCapacity", "NONE")
    if mode not in RETURN_MODES:
        raise validation_exception(
            f"1 validation error detected: Value '{mode}' at 'returnConsumedCapacity' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(RETURN_MODES)}]"
        )
    return mode


def _entry(table: str, units: TableUnits, mode: str) -> dict:
    entry: dict = {"TableName": table, "CapacityUnits": units.read + units.write}
    if units.read:
        entry["ReadCapacityUnits"] = units.read
    if units.write:
        entry["WriteCapacityUnits"] = units.write
    if mode == "INDEXES":  # no secondary indexes are emulated: the table's own share is all of it
        entry["Table"] = {k: v for k, v in entry.items() if k != "TableName"}
    return entry


def single_response(consumed: Consumed, mode: str, table: str) -> dict:
    """`ConsumedCapacity` of a one-table operation's response (nothing for NONE)."""
    if mode == "NONE":
        return {}
    return {"ConsumedCapacity": _entry(table, consumed.tables.get(table) or TableUnits(), mode)}


def multi_response(consumed: Consumed, mode: str) -> dict:
    """`ConsumedCapacity` of a batch or transaction: one entry per table."""
    if mode == "NONE":
        return {}
    return {"ConsumedCapacity": [_entry(t, u, mode) for t, u in sorted(consumed.tables.items())]}
