"""serving.consumer.terminal_cache: a terminal's counts are read once per day and age bound, never
stale past either, and never changed by what a batch adds in memory.

The store tests run against the emulator's DynamoDB, with a second writer (another shard's consumer,
or the chargeback feed) adding counts behind the cache's back.
"""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.stream.stack import ensure_table
from serving.consumer.state_store import DynamoFeatureStore, terminal_key
from serving.consumer.terminal_cache import TerminalCache
from serving.features import MS_PER_DAY, TerminalState, update_terminal

DAY = 20_458  # 2026-01-05
MAX_AGE_S = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(emulator) -> str:
    name = f"terminals-{uuid.uuid4().hex[:8]}"
    ensure_table(emulator.client("dynamodb"), name, "pk")
    return name


@pytest.fixture
def read_keys(emulator):
    """The terminal keys each BatchGetItem of this client asked for, as the service received them."""
    dynamodb = emulator.client("dynamodb")
    asked: list[str] = []

    def record(params, **_):
        for table in params["RequestItems"].values():
            asked.extend(key["pk"]["S"] for key in table["Keys"] if key["pk"]["S"].startswith("T#"))

    dynamodb.meta.events.register("provide-client-params.dynamodb.BatchGetItem", record)
    return dynamodb, asked


def _stores(emulator, dynamodb, table, clock, max_age_s=MAX_AGE_S):
    cached = DynamoFeatureStore(dynamodb, table, terminal_cache=TerminalCache(max_age_s, 100, clock))
    other_writer = DynamoFeatureStore(emulator.client("dynamodb"), table)
    return cached, other_writer


def _count(store: DynamoFeatureStore, terminal: str, day: int, n: int = 1) -> None:
    assert store.add_terminal_counts({terminal: {day: n}}, {}) == []


def test_a_terminal_is_read_once_per_day_within_its_age(emulator, table, read_keys):
    dynamodb, asked = read_keys
    clock = Clock()
    cached, other = _stores(emulator, dynamodb, table, clock)
    _count(other, "T1", DAY - 1, 4)
    assert cached.load(set(), {"T1"}, through_day=DAY).terminals["T1"].daily_counts == {DAY - 1: 4}
    _count(other, "T1", DAY - 1)  # a late event of yesterday, on another shard
    clock.now += MAX_AGE_S - 1
    again = cached.load(set(), {"T1"}, through_day=DAY).terminals["T1"]
    assert asked == ["T#T1"]  # not read again
    assert again.daily_counts == {DAY - 1: 4}  # the late event is not seen yet: at most MAX_AGE_S late


def test_an_entry_past_its_age_is_read_again(emulator, table, read_keys):
    dynamodb, asked = read_keys
    clock = Clock()
    cached, other = _stores(emulator, dynamodb, table, clock)
    cached.load(set(), {"T1"}, through_day=DAY)
    other.add_known_fraud("T1", (DAY - 3) * MS_PER_DAY)  # a label arrives from the chargeback feed
    clock.now += MAX_AGE_S + 0.001
    terminal = cached.load(set(), {"T1"}, through_day=DAY).terminals["T1"]
    assert asked == ["T#T1", "T#T1"]
    assert terminal.daily_known_frauds == {DAY - 3: 1}


def test_a_new_day_starts_from_the_stored_counts_of_the_day_before(emulator, table, read_keys):
    dynamodb, asked = read_keys
    clock = Clock()
    cached, other = _stores(emulator, dynamodb, table, clock)
    cached.load(set(), {"T1"}, through_day=DAY)
    _count(other, "T1", DAY, 5)  # today, on another shard: no feature of today reads it
    assert cached.load(set(), {"T1"}, through_day=DAY).terminals["T1"].daily_counts == {}
    tomorrow = cached.load(set(), {"T1"}, through_day=DAY + 1).terminals["T1"]
    assert asked == ["T#T1", "T#T1"]
    assert tomorrow.daily_counts == {DAY: 5}  # yesterday is whole, not as it was when first read


def test_what_a_batch_adds_in_memory_stays_in_that_batch(emulator, table, read_keys):
    dynamodb, _ = read_keys
    cached, _ = _stores(emulator, dynamodb, table, Clock())
    for _ in range(3):  # read from the table, then twice from the cache
        terminal = cached.load(set(), {"T1"}, through_day=DAY).terminals["T1"]
        assert terminal.to_dict() == TerminalState().to_dict()
        update_terminal(terminal, (DAY - 1) * MS_PER_DAY)  # the batch's own events, folded in as it scores
        terminal.record_fraud_label((DAY - 1) * MS_PER_DAY)


def test_a_damaged_terminal_is_read_again_and_keeps_saying_why(emulator, table, read_keys):
    dynamodb, asked = read_keys
    cached, _ = _stores(emulator, dynamodb, table, Clock())
    dynamodb.put_item(TableName=table, Item={**terminal_key("T9"), f"n_{DAY}": {"S": "not a number"}})
    for _ in range(2):
        assert "T#T9" in cached.load(set(), {"T9"}, through_day=DAY + 1).damaged
    assert asked == ["T#T9", "T#T9"]


def test_without_a_day_or_with_age_zero_every_terminal_is_read(emulator, table, read_keys):
    dynamodb, asked = read_keys
    clock = Clock()
    cached, _ = _stores(emulator, dynamodb, table, clock)
    cached.load(set(), {"T1"})  # no day: callers outside the pipeline (tests, tools) always read
    cached.load(set(), {"T1"})
    off, _ = _stores(emulator, dynamodb, table, clock, max_age_s=0)
    off.load(set(), {"T1"}, through_day=DAY)
    off.load(set(), {"T1"}, through_day=DAY)
    assert asked == ["T#T1"] * 4


def test_the_least_recently_read_terminal_goes_first():
    cache = TerminalCache(MAX_AGE_S, max_entries=2, clock=Clock())
    for terminal in ("T1", "T2"):
        cache.put(terminal, TerminalState({DAY - 1: 1}), DAY)
    cache.put("T1", TerminalState({DAY - 1: 2}), DAY)  # read again: now the most recent
    cache.put("T3", TerminalState(), DAY)
    assert len(cache) == 2
    assert cache.get("T2", DAY) is None
    assert cache.get("T1", DAY).daily_counts == {DAY - 1: 2}


# Each step: another writer adds a count to a past day, the clock moves, or a batch loads the
# terminal for a day (days move forward or lag behind, as shards do).
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(DAY - 5, DAY + 5)),
        st.tuples(st.just("tick"), st.floats(0, 2 * MAX_AGE_S)),
        st.tuples(st.just("load"), st.integers(DAY - 2, DAY + 6)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_steps)
def test_a_loaded_terminal_is_never_staler_than_its_age_allows(emulator, steps):
    """Whatever the interleaving, a load returns the stored counts as they were at some instant of
    the last MAX_AGE_S, and a load for a day later than any loaded before returns them as they are."""
    name = f"terminals-{uuid.uuid4().hex[:8]}"
    ensure_table(emulator.client("dynamodb"), name, "pk")
    clock = Clock()
    cached, other = _stores(emulator, emulator.client("dynamodb"), name, clock)
    stored: dict[int, int] = {}
    history: list[tuple[float, dict[int, int]]] = [(clock.now, {})]  # (since when, the stored counts)
    latest_day = None
    for step, value in steps:
        if step == "add":
            _count(other, "T1", value)
            stored[value] = stored.get(value, 0) + 1
            history.append((clock.now, dict(stored)))
        elif step == "tick":
            clock.now += value
        else:
            seen = cached.load(set(), {"T1"}, through_day=value).terminals["T1"].daily_counts
            if latest_day is None or value > latest_day:
                assert seen == stored
                latest_day = value
            window_start = clock.now - MAX_AGE_S
            in_effect_then = [counts for when, counts in history if when < window_start][-1:]
            since = [counts for when, counts in history if when >= window_start]
            assert seen in in_effect_then + since
