"""Terminals' stored counts kept across batches in one execution environment, for a bounded time.

Reading terminal items was the largest share of the consumer's CPU: a terminal item holds a counter
per day of the last HISTORY_DAYS, and botocore parses each one, for every terminal of every batch.
Yet the features of an event on day d read only days before d (serving/features.py), which change
after the fact only when an event comes in late or a fraud label becomes known. So a terminal's
counts as read for a batch whose latest event was on day D still answer for any later event of day
D or before, as long as they are not older than `max_age_s`:

- a late event or a fraud label written by another shard (or the chargeback feed) reaches this
  environment's features at most `max_age_s` later (0 turns the cache off);
- the first batch with an event after D reads the terminal again, so a new day always starts from the
  stored counts of the day before.

The cache is only ever read: counts are still added to the table by every batch (ADD), so a stale
entry can make a feature lag, never a stored count wrong. Callers get a copy, so what a batch adds in
memory stays in that batch. At most `max_entries` terminals are kept, the least recently read first
out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from serving.features import TerminalState


@dataclass(frozen=True)
class _Entry:
    state: TerminalState
    through_day: int  # the latest event day of the batch it was read for
    read_at: float  # clock seconds


class TerminalCache:
    def __init__(
        self, max_age_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, _Entry] = {}  # oldest read first

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, terminal_id: str, through_day: int) -> TerminalState | None:
        """A copy of the terminal's counts if they were read recently enough for events up to
        `through_day`; None when it must be read from the table."""
        entry = self._entries.get(terminal_id)
        if entry is None:
            return None
        if through_day > entry.through_day or self.clock() - entry.read_at > self.max_age_s:
            del self._entries[terminal_id]
            return None
        return _copy(entry.state)

    def put(self, terminal_id: str, state: TerminalState, through_day: int) -> None:
        """Keep a copy of counts just read from the table for a batch whose latest event day is
        `through_day`."""
        if self.max_age_s <= 0 or self.max_entries <= 0:
            return
        self._entries.pop(terminal_id, None)
        self._entries[terminal_id] = _Entry(_copy(state), through_day, self.clock())
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]


def _copy(state: TerminalState) -> TerminalState:
    return TerminalState(dict(state.daily_counts), dict(state.daily_known_frauds))
