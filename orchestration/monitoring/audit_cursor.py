"""Which matured outcomes an A/B tick counts, reading the audit objects incrementally and exactly once.

Keys sort by their batch's first arrival, but objects do not appear in key order: shards and
redelivered batches finish at different times. An object appears at most `lateness_ms` after its key's
time (a batch older than the event-source mapping's MaximumRecordAge is given up, not predicted, and
the function's timeout bounds the rest), so:

- the cursor's `start_after` only moves past objects whose every prediction has matured AND whose key
  time is more than `lateness_ms` old (no object can still appear below it);
- objects above it are read again each tick: an object read before counts the outcomes that matured
  since the last tick's replay clock (`as_of_ms`), an object read for the first time counts every
  outcome matured so far (it may have appeared after its labels matured);
- "read before" is the set of keys of the lateness window (`seen`, as short digests): an older key
  above `start_after` was already there at the last tick, by the lateness bound.

So an outcome is counted at the first tick that has both its prediction and its matured label, once.
One exception: a request a producer resent lands in two objects; the A/B test keeps the first in key
order, and when the later object appears first and the earlier one only after a tick, both count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from serving.consumer.audit import key_arrival_ms, time_key


def digest(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class AuditCursor:
    start_after: str  # every object at or below this key is read and fully counted
    as_of_ms: int | None = None  # the replay clock the last tick counted up to
    listed_ms: int | None = None  # the wall clock of the last tick's listing
    seen: frozenset[str] = frozenset()  # digests of the keys read within the lateness window

    @classmethod
    def starting(cls, at_ms: int, lateness_ms: int) -> AuditCursor:
        """Before any object of a test that started at `at_ms` (a batch predicted after it arrived at
        most `lateness_ms` before)."""
        return cls(time_key(max(0, at_ms - lateness_ms)))

    def to_dict(self) -> dict:
        return {
            "start_after": self.start_after,
            "as_of_ms": self.as_of_ms,
            "listed_ms": self.listed_ms,
            "seen": sorted(self.seen),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> AuditCursor:
        return cls(
            raw["start_after"], raw.get("as_of_ms"), raw.get("listed_ms"), frozenset(raw.get("seen", ()))
        )

    def was_read(self, key: str, lateness_ms: int) -> bool:
        """Whether the last tick read the object at `key` (above start_after)."""
        if self.listed_ms is None:
            return False
        return digest(key) in self.seen or key_arrival_ms(key) < self.listed_ms - lateness_ms


@dataclass(frozen=True)
class CursorStep:
    cursor: AuditCursor
    counted: list[dict]  # predictions whose outcome matured and is counted at this tick, once


def step(
    cursor: AuditCursor,
    keyed_rows: list[tuple[str, dict]],
    label_available_ms: Mapping[str, int],
    as_of_ms: int,
    now_ms: int,
    lateness_ms: int,
) -> CursorStep:
    """Count this tick's outcomes and move the cursor.

    `keyed_rows`: (key, prediction) of every object above `cursor.start_after`, in key order, one per
    request; `label_available_ms`: request id -> when its label is final, for the labels that exist.
    """

    def matured(row: dict) -> bool:
        available = label_available_ms.get(row["request_id"])
        return available is not None and available <= as_of_ms

    counted = [
        row
        for key, row in keyed_rows
        if matured(row)
        and (not cursor.was_read(key, lateness_ms) or label_available_ms[row["request_id"]] > cursor.as_of_ms)
    ]
    settled = time_key(now_ms - lateness_ms)  # every object below this key has appeared
    start_after = cursor.start_after
    for key, rows in groupby(keyed_rows, key=itemgetter(0)):
        if key > settled or not all(matured(row) for _, row in rows):
            break
        start_after = key
    seen = frozenset(digest(key) for key, _ in keyed_rows if key > max(start_after, settled))
    return CursorStep(AuditCursor(start_after, as_of_ms, now_ms, seen), counted)
