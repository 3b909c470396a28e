"""State tables written by an earlier release, moved once into the tables that replaced them.

A release that changes how a backend stores its records gives the records a new table; on start,
the rows of the old table are converted and inserted (a row already in the new table wins) and the
old table is dropped. A row that cannot be converted is logged and left in the old table rather
than dropped, so nothing is lost silently.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from emulator.state import Database

log = logging.getLogger(__name__)

Convert = Callable[[sqlite3.Row], tuple]


@dataclass(frozen=True)
class Replacement:
    old_table: str
    new_table: str
    new_schema: str  # one CREATE TABLE IF NOT EXISTS statement
    convert: Convert  # an old row to the new table's column values


def migrate(db: Database, replacement: Replacement) -> int:
    """Move `replacement.old_table`'s rows, if that table exists; the number of rows moved."""
    with db.transaction() as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (replacement.old_table,)
        ).fetchone()
        if not found:
            return 0
        conn.execute(replacement.new_schema)
        moved, kept = [], 0
        for row in conn.execute(f"SELECT rowid AS _rowid, * FROM {replacement.old_table}").fetchall():
            try:
                values = replacement.convert(row)
            except Exception as exc:  # whatever a bad old row raises: keep it, say which and why
                log.error("kept row %s of %s: %s", row["_rowid"], replacement.old_table, exc)
                kept += 1
                continue
            marks = ", ".join("?" * len(values))
            conn.execute(f"INSERT OR IGNORE INTO {replacement.new_table} VALUES ({marks})", values)
            moved.append((row["_rowid"],))
        conn.executemany(f"DELETE FROM {replacement.old_table} WHERE rowid=?", moved)
        if not kept:
            conn.execute(f"DROP TABLE {replacement.old_table}")
    log.info("moved %d rows from %s to %s", len(moved), replacement.old_table, replacement.new_table)
    return len(moved)
