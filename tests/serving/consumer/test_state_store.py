"""serving.consumer.state_store against the emulator's DynamoDB: customer and terminal state round-trip,
unknown entities start empty, terminal counts add up atomically and old days are dropped."""

import pytest

from serving.consumer.state_store import DynamoFeatureStore, LoadedCustomer, StateStoreError, terminal_item
from serving.features import HISTORY_DAYS, MS_PER_DAY, CustomerState, TerminalState, update_customer
from serving.schemas import validate_event

DAY = 20_458  # 2026-01-05


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
    assert loaded.state.devices == {"dev-1", "dev-2"}
    assert loaded.applied_through == (_event(2).timestamp_ms, "r2")


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
    clients.dynamodb.put_item(TableName=stack.feature_state_table, Item=terminal_item("T2", seeded))
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
