"""Stored rows read back at start-up, one damaged row costing only itself.

A row that cannot be decoded any more (truncated JSON, a stray edit, a release's format it does not
match) is left in the database as it is and skipped with a warning naming it, so the emulator still
starts and everything else in that table loads.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def decoded_rows(
    rows: Iterable[sqlite3.Row], key: str, decode: Callable[[sqlite3.Row], T], what: str
) -> dict[str, T]:
    """`{row[key]: decode(row)}` for every row that decodes; `what` names the kind in the warning."""
    decoded: dict[str, T] = {}
    for row in rows:
        try:
            decoded[row[key]] = decode(row)
        except Exception as exc:  # whatever the damage, it is this row's alone
            log.warning("skipping the damaged stored %s %r: %s: %s", what, row[key], type(exc).__name__, exc)
    return decoded
