"""serving.consumer.state_store against the emulator's DynamoDB: customer and terminal state round-trip,
unknown entities start empty, terminal counts add up atomically and old days are dropped, and a
customer item stays writable however many events and devices the customer has."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving import features
from serving.consumer.state_store import (
    APPLIED_FRAME_VERSION,
    STATE_TTL_ATTRIBUTE,
    DynamoFeatureStore,
    LoadedCustomer,
    StateStoreError,
    customer_from_item,
    customer_item,
    customer_key,
    expires_at,
    terminal_item,
)
from serving.features import HISTORY_DAYS, MS_PER_DAY, CustomerState, TerminalState, update_customer
from serving.schemas import LATEST_MS, MAX_ID_CHARS, TransactionEvent, validate_event

DAY = 20_458  # 2026-01-05
NOW_S = 1_780_000_000  # 2026-05-28, months after the events: a replay of old traffic


def _event(i: int, device: str = "dev-1") -> object:
    return validate_event(
        {
            "request_id": f"r{i}",
            "customer_id": "C1",
            "terminal_id": "T1",
            "merchant_category": "grocery",
            "amount": 10.0 * (i + 1),
            "timestamp": f"2026-01-05T10:00:{i:02d}.000Z",
            "device_id": device,
            "distance_from_home": 1.0,
        }
    )


@pytest.fixture
def store(clients, stack) -> DynamoFeatureStore:
    return DynamoFeatureStore(clients.dynamodb, stack.feature_state_table)


def test_unknown_customers_and_terminals_start_empty(store):
    state = store.load({"C-new"}, {"T-new"})
    assert state.customers["C-new"].applied_through is None
    assert state.customers["C-new"].state.to_dict() == CustomerState().to_dict()
    assert state.terminals["T-new"].to_dict() == TerminalState().to_dict()


def test_customer_state_round_trips(store):
    state = store.load({"C1"}, set())
    customer = state.customers["C1"]
    for i, device in enumerate(["dev-1", "dev-2", "dev-1"]):
        update_customer(customer.state, _event(i, device))
    customer.applied_through = (_event(2).timestamp_ms, "r2")
    assert store.save_customers(state.customers) == []

    loaded = store.load({"C1"}, set()).customers["C1"]
    assert loaded.state.to_dict() == customer.state.to_dict()
    assert loaded.state.to_dict()["amounts"] == [10.0, 20.0, 30.0]
    assert list(loaded.state.devices.items()) == [
        ("dev-2", _event(1).timestamp_ms),
        ("dev-1", _event(2).timestamp_ms),
    ]
    assert loaded.applied_through == (_event(2).timestamp_ms, "r2")


def test_a_customer_item_the_previous_code_wrote_still_loads(store, clients, stack):
    old_state = {
        "last_ms": 1_767_225_600_000,
        "devices": ["dev-1"],
        "times_ms": [1_767_225_600_000],
        "amounts": [5.0],
    }
    item = {
        **customer_key("C-old"),
        "state": {"S": json.dumps(old_state)},
        "applied_through": {"M": {"ts": {"N": "1767225600000"}, "rid": {"S": "r0"}}},
    }
    clients.dynamodb.put_item(TableName=stack.feature_state_table, Item=item)
    loaded = store.load({"C-old"}, set())
    assert loaded.damaged == {}
    customer = loaded.customers["C-old"]
    assert customer.state.devices == {"dev-1": 1_767_225_600_000}
    assert customer.state.amounts() == [5.0]
    assert customer.applied_through == (1_767_225_600_000, "r0")


def test_a_customer_item_the_previous_release_wrote_as_json_still_loads(store, clients, stack):
    state = CustomerState()
    for i, device in enumerate(["dev-1", "dev-2", "dev-1"]):
        update_customer(state, _event(i, device))
    item = {
        **customer_key("C-json"),
        "state": {"S": json.dumps(state.to_dict(), separators=(",", ":"))},  # the previous release's form
        "applied_through": {"M": {"ts": {"N": str(state.last_ms)}, "rid": {"S": "r2"}}},
    }
    clients.dynamodb.put_item(TableName=stack.feature_state_table, Item=item)
    loaded = store.load({"C-json"}, set()).customers["C-json"]
    assert loaded.state == state
    assert loaded.applied_through == (state.last_ms, "r2")


def test_a_customer_item_the_previous_release_wrote_packed_still_loads(store, clients, stack):
    state = CustomerState()
    for i, device in enumerate(["dev-1", "dev-2"]):
        update_customer(state, _event(i, device))
    item = {
        **customer_key("C-v1"),
        "state": {"B": state.to_bytes()},  # the bare packed state, its marker in a map beside it
        "applied_through": {"M": {"ts": {"N": str(state.last_ms)}, "rid": {"S": "r1"}}},
    }
    clients.dynamodb.put_item(TableName=stack.feature_state_table, Item=item)
    loaded = store.load({"C-v1"}, set()).customers["C-v1"]
    assert loaded.state == state
    assert loaded.applied_through == loaded.stored_through == (state.last_ms, "r1")
    loaded.applied_through = (state.last_ms + 1, "r2")
    assert store.save_customers({"C-v1": loaded}) == []  # rewritten in the current form
    again = store.load({"C-v1"}, set()).customers["C-v1"]
    assert (again.state, again.applied_through) == (state, (state.last_ms + 1, "r2"))


def test_customer_items_are_packed_with_a_version_and_expire(clients, stack):
    store = DynamoFeatureStore(clients.dynamodb, stack.feature_state_table, clock=lambda: NOW_S)
    state = store.load({"C1"}, set())
    update_customer(state.customers["C1"].state, _event(0))
    state.customers["C1"].applied_through = (_event(0).timestamp_ms, "r0")
    assert store.save_customers(state.customers) == []
    item = clients.dynamodb.get_item(TableName=stack.feature_state_table, Key=customer_key("C1"))["Item"]
    assert set(item) == {"pk", "state", STATE_TTL_ATTRIBUTE}  # one attribute holds marker and state
    frame = item["state"]["B"]
    assert frame[0] == APPLIED_FRAME_VERSION
    assert frame[-len(state.customers["C1"].state.to_bytes()) :][0] == features.PACKED_VERSION
    # HISTORY_DAYS after the write, which is later than the (replayed) event
    assert int(item[STATE_TTL_ATTRIBUTE]["N"]) == NOW_S + HISTORY_DAYS * 86_400
    assert expires_at(NOW_S * 1000 + 5_000, NOW_S) == NOW_S + 5 + HISTORY_DAYS * 86_400  # or the event


def test_terminal_items_expire_after_their_last_day(clients, stack):
    store = DynamoFeatureStore(clients.dynamodb, stack.feature_state_table, clock=lambda: NOW_S)
    assert store.add_terminal_counts({"T1": {DAY: 1}}, {}) == []
    store.add_known_fraud("T2", DAY * MS_PER_DAY)
    for terminal in ("T1", "T2"):
        key = {"pk": {"S": f"T#{terminal}"}}
        item = clients.dynamodb.get_item(TableName=stack.feature_state_table, Key=key)["Item"]
        assert int(item[STATE_TTL_ATTRIBUTE]["N"]) == NOW_S + HISTORY_DAYS * 86_400
    assert store.load(set(), {"T1"}).terminals["T1"].daily_counts == {DAY: 1}  # not read as a day


def test_a_packed_state_of_an_unknown_version_is_damaged_not_guessed(store, clients, stack):
    item = {**customer_key("C-future"), "state": {"B": b"\x09" + bytes(40)}}
    clients.dynamodb.put_item(TableName=stack.feature_state_table, Item=item)
    damaged = store.load({"C-future"}, set()).damaged["C#C-future"]
    assert damaged.endswith("ValueError: packed state has version 09, not 1")


def test_customers_the_batch_did_not_change_are_not_written(store, clients, stack):
    state = store.load({"C-untouched"}, set())
    assert store.save_customers(state.customers) == []
    assert clients.dynamodb.scan(TableName=stack.feature_state_table)["Items"] == []


def test_terminal_counts_add_up_across_writers(store):
    loaded = store.load(set(), {"T1"}).terminals
    assert store.add_terminal_counts({"T1": {DAY: 3, DAY + 1: 1}}, loaded) == []
    assert store.add_terminal_counts({"T1": {DAY + 1: 2}}, loaded) == []  # another shard, same terminal
    store.add_known_fraud("T1", DAY * MS_PER_DAY + 5)
    terminal = store.load(set(), {"T1"}).terminals["T1"]
    assert terminal.daily_counts == {DAY: 3, DAY + 1: 3}
    assert terminal.daily_known_frauds == {DAY: 1}


def test_days_no_window_reads_are_dropped(store, clients, stack):
    old, recent = DAY - HISTORY_DAYS - 1, DAY - 1
    seeded = TerminalState(daily_counts={old: 7, recent: 2}, daily_known_frauds={old: 1})
    clients.dynamodb.put_item(TableName=stack.feature_state_table, Item=terminal_item("T2", seeded, NOW_S))
    loaded = store.load(set(), {"T2"}).terminals
    assert loaded["T2"].daily_counts == {old: 7, recent: 2}

    assert store.add_terminal_counts({"T2": {DAY: 1}}, loaded) == []
    terminal = store.load(set(), {"T2"}).terminals["T2"]
    assert terminal.daily_counts == {recent: 2, DAY: 1}
    assert terminal.daily_known_frauds == {}


def test_more_entities_than_one_call_reads(store):
    customers = {f"C{i}" for i in range(130)}  # BatchGetItem takes 100 keys at a time
    state = store.load(customers, set())
    for customer_id, loaded in state.customers.items():
        loaded.applied_through = (1, customer_id)
    assert store.save_customers(state.customers) == []
    terminals = {f"T{i}": {DAY: i + 1} for i in range(120)}
    assert store.add_terminal_counts(terminals, {}) == []

    again = store.load(customers, set(terminals))
    assert {c: loaded.applied_through for c, loaded in again.customers.items()} == {
        c: (1, c) for c in customers
    }
    assert {t: state.daily_counts for t, state in again.terminals.items()} == terminals


def test_an_unreadable_table_is_an_error_naming_it(clients):
    store = DynamoFeatureStore(clients.dynamodb, "no-such-state-table")
    with pytest.raises(
        StateStoreError, match="could not read 2 feature-state items from no-such-state-table"
    ):
        store.load({"C1"}, {"T1"})


def test_writes_that_fail_name_their_entities(clients):
    store = DynamoFeatureStore(clients.dynamodb, "no-such-state-table")
    changed = {c: LoadedCustomer(CustomerState(), (1, "r1")) for c in ("C1", "C2")}
    assert sorted(store.save_customers(changed)) == ["C1", "C2"]
    assert sorted(store.add_terminal_counts({"T1": {DAY: 1}, "T9": {DAY: 2}}, {})) == ["T1", "T9"]


ITEM_LIMIT = 400 * 1024  # DynamoDB's item size limit
WORST_CASE_BOUND = 83_200  # serving/features.py's docstring
ID_CHARS = 256  # twice the schema's bound, so the margin holds if it is raised to Kinesis's 256
LONGEST_MS = LATEST_MS - 1  # 13 digits: the schema keeps times in 2000..2100
LONGEST_AMOUNT = 2.0**-338  # 1.7859177988785547e-102: 23 characters, the most any amount in range takes


def item_bytes(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values, in UTF-8; a number counted as its text and a
    map with DynamoDB's 3 bytes plus 1 per entry, both at least what DynamoDB counts."""

    def value_bytes(value: dict) -> int:
        ((kind, payload),) = value.items()
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_bytes(v) + 1 for k, v in payload.items())
        return len(payload) if kind == "B" else len(payload.encode())

    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def widest_id(i: int, chars: int = ID_CHARS) -> str:
    """`chars` characters outside the BMP: 4 bytes each in UTF-8, 12 in ASCII JSON (a surrogate pair)."""
    return chr(0x10000 + i) * chars


def test_the_worst_case_customer_item_is_well_under_the_item_limit():
    assert MAX_ID_CHARS <= ID_CHARS
    n = features.MAX_EVENTS_KEPT
    state = CustomerState(
        last_ms=LONGEST_MS,
        devices={widest_id(i): LONGEST_MS for i in range(features.MAX_DEVICES)},
        times_ms=[LONGEST_MS] * n,
        totals=[k * LONGEST_AMOUNT for k in range(n + 1)],  # exact multiples: every amount is the longest
    )
    assert set(state.amounts()) == {LONGEST_AMOUNT}
    item = customer_item(widest_id(999), state, (LONGEST_MS, widest_id(998)), LONGEST_MS / 1000)
    size = item_bytes(item)
    assert size <= WORST_CASE_BOUND < 0.21 * ITEM_LIMIT
    assert size > 0.99 * WORST_CASE_BOUND  # the bound is the real worst case, not a loose guess


def _flood_event(i: int) -> TransactionEvent:
    """Events one second apart, a new device every ten events, with ids as long as the schema allows."""
    return TransactionEvent(
        f"r{i:06d}",
        "C-flood",
        "T1",
        "grocery",
        LONGEST_AMOUNT,
        1_767_225_600_000 + i * 1000,
        widest_id(i // 10, MAX_ID_CHARS),
        1.0,
    )


def test_a_customer_with_far_more_events_and_devices_than_the_caps_stays_writable(
    store, clients, stack, monkeypatch
):
    # Twice the event cap, and 800 devices: 25 times the device cap.
    events = [_flood_event(i) for i in range(2 * features.MAX_EVENTS_KEPT)]
    expected = CustomerState()
    for start in range(0, len(events), 400):
        state = store.load({"C-flood"}, set())
        customer = state.customers["C-flood"]
        for event in events[start : start + 400]:
            update_customer(customer.state, event)
            update_customer(expected, event)
        customer.applied_through = (events[start + 399].timestamp_ms, events[start + 399].request_id)
        assert store.save_customers(state.customers) == []  # every write persists
        stored = clients.dynamodb.get_item(TableName=stack.feature_state_table, Key=customer_key("C-flood"))
        assert item_bytes(stored["Item"]) <= WORST_CASE_BOUND

    loaded = store.load({"C-flood"}, set()).customers["C-flood"]
    assert list(loaded.state.devices.items()) == list(expected.devices.items())
    assert (loaded.state.times_ms, loaded.state.amounts()) == (expected.times_ms, expected.amounts())
    assert len(loaded.state.devices) == features.MAX_DEVICES
    assert len(loaded.state.times_ms) == features.MAX_EVENTS_KEPT

    # Without the caps the same customer could not be written at all: this history is one that
    # poisons an uncapped state.
    monkeypatch.setattr(features, "MAX_DEVICES", 10**9)
    monkeypatch.setattr(features, "MAX_EVENTS_KEPT", 10**9)
    uncapped = CustomerState()
    for event in events:
        update_customer(uncapped, event)
    applied = (events[-1].timestamp_ms, events[-1].request_id)
    assert item_bytes(customer_item("C-flood", uncapped, applied, NOW_S)) > ITEM_LIMIT
    refused = {"C-flood": LoadedCustomer(uncapped, applied)}
    assert store.save_customers(refused) == ["C-flood"]


@given(
    timestamp_ms=st.integers(0, LATEST_MS),
    request_id=st.text(min_size=1, max_size=MAX_ID_CHARS),
    amounts=st.lists(st.floats(0.01, 1e6), max_size=20),
)
def test_the_applied_marker_and_the_state_round_trip_in_one_attribute(timestamp_ms, request_id, amounts):
    state = CustomerState()
    for i, amount in enumerate(amounts):
        update_customer(
            state, TransactionEvent(f"r{i}", "C1", "T1", "grocery", amount, 1_767_225_600_000 + i, "d", 1.0)
        )
    loaded = customer_from_item(customer_item("C1", state, (timestamp_ms, request_id), NOW_S))
    assert loaded.applied_through == loaded.stored_through == (timestamp_ms, request_id)
    assert loaded.state == state
    assert not loaded.changed
