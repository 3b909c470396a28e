"""The A/B tick's cursor over the audit objects, as a generated guarantee: objects appear in any order
within the lateness the cursor allows, labels mature as the replay clock moves, and every outcome is
counted exactly once — never twice, never skipped, never before its label is final."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestration.monitoring.audit_cursor import AuditCursor, step
from serving.consumer.audit import audit_key
from serving.consumer.decode import StreamPosition

LATENESS_MS = 60_000
START_MS = 1_767_607_200_000


@dataclass(frozen=True)
class Batch:
    key: str
    appears_ms: int  # wall clock: when its object becomes visible
    rows: tuple[dict, ...]


@st.composite
def histories(draw):
    """Batches (arrival, a delay below the lateness, rows with their label times), ticks (wall clock and
    replay clock, both non-decreasing) and the labels."""
    batches, labels = [], {}
    for index in range(draw(st.integers(1, 12))):
        arrival = START_MS + draw(st.integers(0, LATENESS_MS))
        shard = draw(st.sampled_from(["shardId-000000000000", "shardId-000000000001"]))
        position = StreamPosition(f"{index + 1:056d}", "pk", shard, "arn", arrival)
        rows = []
        for row in range(draw(st.integers(1, 3))):
            request_id = f"r{index}-{row}"
            rows.append({"request_id": request_id, "sequence_number": f"{index}{row}"})
            available = draw(st.none() | st.integers(0, 100))
            if available is not None:
                labels[request_id] = available
        delay = draw(st.integers(0, LATENESS_MS - 1))
        batches.append(
            Batch(audit_key(position, rows[-1]["sequence_number"], len(rows)), arrival + delay, tuple(rows))
        )
    walls = sorted(draw(st.lists(st.integers(START_MS, START_MS + 3 * LATENESS_MS), min_size=1, max_size=12)))
    clocks = sorted(draw(st.lists(st.integers(0, 100), min_size=len(walls), max_size=len(walls))))
    return batches, list(zip(walls, clocks, strict=True)), labels


def _tick(cursor: AuditCursor, batches: list[Batch], labels: dict, now_ms: int, as_of: int):
    visible = sorted((b for b in batches if b.appears_ms <= now_ms), key=lambda b: b.key)
    keyed = [(b.key, row) for b in visible if b.key > cursor.start_after for row in b.rows]
    return step(cursor, keyed, labels, as_of, now_ms, LATENESS_MS)


def _batch(sequence: int, arrival_offset_ms: int, delay_ms: int, request_id: str) -> Batch:
    arrival = START_MS + arrival_offset_ms
    position = StreamPosition(f"{sequence:056d}", "pk", "shardId-000000000000", "arn", arrival)
    row = {"request_id": request_id, "sequence_number": str(sequence)}
    return Batch(audit_key(position, str(sequence), 1), arrival + delay_ms, (row,))


# A later batch is visible and matured at the first tick while an earlier one is still to appear: a
# cursor that moved past the later one would never list the earlier.
OVERTAKEN = (
    [_batch(2, 50_000, 0, "later"), _batch(1, 0, 59_000, "earlier")],
    [(START_MS + 55_000, 100), (START_MS + 60_000, 100)],
    {"later": 0, "earlier": 0},
)
# Read while young, matured at the next tick: counted then, and only then.
REREAD = ([_batch(1, 0, 0, "young")], [(START_MS + 1, 0), (START_MS + 2, 50)], {"young": 10})


@settings(max_examples=150, deadline=None, database=None)
@given(history=histories())
@example(history=OVERTAKEN)
@example(history=REREAD)
def test_every_matured_outcome_is_counted_once_whatever_order_objects_appear_in(history):
    batches, ticks, labels = history
    # the last tick comes after every object appeared and with the clock at its end
    ticks.append((max(b.appears_ms for b in batches) + 1, 101))
    cursor = AuditCursor.starting(START_MS, 0)
    counted: Counter = Counter()
    for now_ms, as_of in ticks:
        moved = _tick(cursor, batches, labels, now_ms, as_of)
        for row in moved.counted:
            assert labels[row["request_id"]] <= as_of, "counted before its label was final"
            counted[row["request_id"]] += 1
        cursor = moved.cursor
        # below the cursor: only objects already there, every one of whose outcomes has matured
        for batch in batches:
            if batch.key <= cursor.start_after:
                assert batch.appears_ms <= now_ms
                assert all(labels.get(row["request_id"], 10**9) <= as_of for row in batch.rows)
        assert cursor.as_of_ms == as_of and cursor.listed_ms == now_ms
    assert max(counted.values(), default=1) == 1, "an outcome counted twice"
    assert set(counted) == set(labels), "an outcome skipped"


def test_the_cursor_round_trips_through_json():
    cursor = AuditCursor("predictions/dt=2026-01-05/hour=10/1767607200000", 5, 7, frozenset({"ab", "cd"}))
    assert AuditCursor.from_dict(cursor.to_dict()) == cursor
