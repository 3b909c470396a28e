"""DynamoDB Time to Live: UpdateTimeToLive, DescribeTimeToLive, and the background deletion of expired
items, with DynamoDB's rules.

- An item expires when the table's TTL attribute is a top-level Number holding epoch seconds earlier
  than now and no more than five years in the past. Any other type, format or value is ignored.
- Expired items are deleted in the background (`delete_expired`, run by the housekeeping thread) and
  until then still appear in reads, queries and scans, as on AWS. An item is never deleted before its
  time: the deletion re-checks the stored item's TTL in the same statement.
- Enabling TTL that is already enabled, disabling it when it is not, or changing it again within an
  hour (of AWS time, see emulator.timescale) of the last change is a ValidationException.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.protocol.errors import AwsError, validation_exception
from emulator.state import Database
from emulator.timescale import scaled

SWEEP_EVERY_S = 300.0  # AWS seconds between sweeps of every TTL-enabled table
CHANGE_INTERVAL_S = 3600.0
MAX_PAST_S = 5 * 365 * 86400  # older TTL values are ignored, as DynamoDB ignores them
_DELETE_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dynamodb_ttl (
    tbl TEXT PRIMARY KEY, attribute TEXT NOT NULL, enabled INTEGER NOT NULL, changed REAL NOT NULL
);
"""
# The TTL attribute of an item, when it is a Number: its value as a REAL (NULL for any other type).
_TTL_SECONDS = "CAST(json_extract(a.value, '$.N') AS REAL)"
_EXPIRED = f"a.key = ? AND json_type(a.value, '$.N') = 'text' AND {_TTL_SECONDS} < ? AND {_TTL_SECONDS} >= ?"


class TimeToLive:
    def __init__(self, db: Database, check_table: Callable[[str], Any], clock: Callable[[], float]) -> None:
        """`check_table(name)` raises ResourceNotFoundException for a table that does not exist."""
        self._db = db
        self._check_table = check_table
        self._clock = clock
        db.create_tables(_SCHEMA)

    def _row(self, table: str):
        rows = self._db.query("SELECT * FROM dynamodb_ttl WHERE tbl=?", (table,))
        return rows[0] if rows else None

    def update(self, table: str, specification: Any) -> dict:
        """UpdateTimeToLive; returns the TimeToLiveSpecification as given."""
        self._check_table(table)
        if not isinstance(specification, dict):
            raise validation_exception("TimeToLiveSpecification is required")
        name, enabled = specification.get("AttributeName"), specification.get("Enabled")
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            raise validation_exception(
                f"TimeToLiveSpecification.AttributeName must be 1-255 characters, got {name!r}"
            )
        if not isinstance(enabled, bool):
            raise validation_exception(
                f"TimeToLiveSpecification.Enabled must be true or false, got {enabled!r}"
            )
        now = self._clock()
        with self._db.transaction() as conn:
            row = conn.execute("SELECT * FROM dynamodb_ttl WHERE tbl=?", (table,)).fetchone()
            if row is not None and bool(row["enabled"]) == enabled:
                raise validation_exception(f"TimeToLive is already {'enabled' if enabled else 'disabled'}")
            if row is None and not enabled:
                raise validation_exception("TimeToLive is already disabled")
            if row is not None and now - row["changed"] < scaled(CHANGE_INTERVAL_S):
                raise validation_exception(
                    "Time to live has been modified multiple times within a fixed interval"
                )
            if row is not None and not enabled and row["attribute"] != name:
                raise validation_exception(
                    f"TimeToLive is active on a different AttributeName: current AttributeName is "
                    f"{row['attribute']}"
                )
            conn.execute(
                "INSERT OR REPLACE INTO dynamodb_ttl VALUES (?, ?, ?, ?)", (table, name, int(enabled), now)
            )
        return {"AttributeName": name, "Enabled": enabled}

    def describe(self, table: str) -> dict:
        """DescribeTimeToLive's TimeToLiveDescription."""
        self._check_table(table)
        row = self._row(table)
        if row is None or not row["enabled"]:
            return {"TimeToLiveStatus": "DISABLED"}
        return {"TimeToLiveStatus": "ENABLED", "AttributeName": row["attribute"]}

    def forget(self, conn: Any, table: str) -> None:
        """Inside DeleteTable's transaction: the table's TTL setting goes with it."""
        conn.execute("DELETE FROM dynamodb_ttl WHERE tbl=?", (table,))

    def delete_expired(self) -> int:
        """Delete the expired items of every TTL-enabled table; returns how many were deleted."""
        deleted = 0
        for row in self._db.query("SELECT tbl, attribute FROM dynamodb_ttl WHERE enabled=1"):
            try:
                deleted += self._sweep(row["tbl"], row["attribute"])
            except AwsError:
                continue  # the table went away meanwhile
        return deleted

    def _sweep(self, table: str, attribute: str) -> int:
        now = self._clock()
        window = (attribute, now, now - MAX_PAST_S)
        keys = [
            (r["hkey"], r["rkey"])
            for r in self._db.query(
                "SELECT d.hkey, d.rkey FROM dynamodb_items AS d, json_each(d.item) AS a "
                f"WHERE d.tbl=? AND {_EXPIRED}",
                (table, *window),
            )
        ]
        deleted = 0
        for start in range(0, len(keys), _DELETE_CHUNK):
            with self._db.transaction() as conn:
                before = conn.total_changes
                conn.executemany(
                    "DELETE FROM dynamodb_items AS d WHERE d.tbl=? AND d.hkey=? AND d.rkey=? AND EXISTS "
                    f"(SELECT 1 FROM json_each(d.item) AS a WHERE {_EXPIRED})",
                    [(table, hkey, rkey, *window) for hkey, rkey in keys[start : start + _DELETE_CHUNK]],
                )
                deleted += conn.total_changes - before
        return deleted
