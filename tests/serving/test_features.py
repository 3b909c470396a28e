"""The offline (vectorised) and online (one event at a time) feature paths must agree, and the online
customer state stays within its caps."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.data.offline_features import canonical_order, compute_offline_features
from orchestration.data.simulation import SimulationConfig, simulate
from serving import features
from serving.features import (
    FEATURE_NAMES,
    HISTORY_MS,
    MS_PER_DAY,
    CustomerState,
    InMemoryFeatureState,
    TerminalState,
)
from serving.schemas import MERCHANT_CATEGORIES, TransactionEvent, format_timestamp, validate_event

START_MS = 1_767_225_600_000  # 2026-01-01
SEEN = FEATURE_NAMES.index("device_seen_before")


def online_feature_matrix(events, labels) -> np.ndarray:
    """Replay events in stream order, feeding each fraud label to its terminal once it is known."""
    events = canonical_order(events)
    frauds = labels[labels["is_fraud"]].merge(
        events[["request_id", "terminal_id", "timestamp_ms"]], on="request_id"
    )
    frauds = frauds.sort_values("label_available_ms")
    pending = list(frauds[["label_available_ms", "terminal_id", "timestamp_ms"]].itertuples(index=False))
    state = InMemoryFeatureState()
    rows, next_label = [], 0
    for record in events.to_dict("records"):
        payload = {**record, "timestamp": format_timestamp(record["timestamp_ms"])}
        event = validate_event(payload)
        while next_label < len(pending) and pending[next_label][0] <= event.timestamp_ms:
            _, terminal_id, tx_ms = pending[next_label]
            state.terminal(terminal_id).record_fraud_label(int(tx_ms))
            next_label += 1
        rows.append(state.process(event))
    return np.array(rows)


@pytest.fixture(scope="module")
def small_history():
    config = SimulationConfig(
        n_customers=300,
        n_terminals=80,
        n_days=45,
        seed=11,
        compromised_terminals_per_day=1.0,
        card_testing_bursts_per_day=1.0,
    )
    return simulate(config)


def assert_offline_equals_online(events, labels) -> np.ndarray:
    offline = compute_offline_features(events, labels)[list(FEATURE_NAMES)].to_numpy()
    online = online_feature_matrix(events, labels)
    assert offline.shape == online.shape == (len(events), len(FEATURE_NAMES))
    mismatched = ~np.isclose(offline, online, rtol=1e-9, atol=1e-9)
    if mismatched.any():
        row, col = np.argwhere(mismatched)[0]
        pytest.fail(
            f"{FEATURE_NAMES[col]} differs at row {row}: "
            f"offline {offline[row, col]} online {online[row, col]}"
        )
    return offline


def test_offline_equals_online_on_the_same_events(small_history):
    assert_offline_equals_online(*small_history)


def test_offline_equals_online_with_caps_that_bind(small_history, monkeypatch):
    events, labels = small_history
    uncapped = compute_offline_features(events, labels)
    monkeypatch.setattr(features, "MAX_DEVICES", 2)
    monkeypatch.setattr(features, "MAX_EVENTS_KEPT", 5)
    capped = pd.DataFrame(assert_offline_equals_online(events, labels), columns=list(FEATURE_NAMES))
    # Parity under caps that never bind would prove nothing about them.
    assert (capped["cust_count_30d"] < uncapped["cust_count_30d"]).sum() > 1000
    assert (capped["device_seen_before"] < uncapped["device_seen_before"]).sum() > 10


GAPS_MS = st.one_of(
    st.just(0),  # same millisecond: canonical order breaks the tie
    st.integers(1, 600_000),  # bursts
    st.integers(1, 48).map(lambda hours: hours * 3_600_000),
    st.sampled_from([HISTORY_MS - 1, HISTORY_MS, HISTORY_MS + 1]),  # the edge of the 30 days
    st.integers(HISTORY_MS + 1, 3 * HISTORY_MS),  # gaps past everything kept
)


@st.composite
def histories(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = draw(st.integers(1, 60))
    customer = st.sampled_from(["C0", "C1", "C2"])
    rows, labels, t = [], [], START_MS
    for i in range(n):
        t += draw(GAPS_MS)
        request_id = f"r{i:03d}"
        rows.append(
            {
                "request_id": request_id,
                "customer_id": draw(customer),
                "terminal_id": draw(st.sampled_from(["T0", "T1"])),
                "merchant_category": draw(st.sampled_from(MERCHANT_CATEGORIES[:3])),
                "amount": draw(st.integers(0, 500_000)) / 100,  # cents: sums stay exact enough to compare
                "timestamp_ms": t,
                "device_id": draw(st.sampled_from(["d0", "d1", "d2", "d3", "d4", "d5"])),
                "distance_from_home": 1.0,
            }
        )
        delay = draw(st.sampled_from([0, MS_PER_DAY, 10 * MS_PER_DAY]))
        labels.append(
            {"request_id": request_id, "is_fraud": draw(st.booleans()), "label_available_ms": t + delay}
        )
    return pd.DataFrame(rows), pd.DataFrame(labels)


def assert_parity_with_caps(history, max_devices: int, max_events: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "MAX_DEVICES", max_devices)
        patch.setattr(features, "MAX_EVENTS_KEPT", max_events)
        assert_offline_equals_online(*history)


@settings(max_examples=80, deadline=None, database=None)
@given(history=histories())
def test_offline_equals_online_on_generated_histories_with_small_caps(history):
    assert_parity_with_caps(history, max_devices=3, max_events=5)


@settings(max_examples=30, deadline=None, database=None)
@given(history=histories())
def test_offline_equals_online_on_generated_histories_with_the_real_caps(history):
    assert_parity_with_caps(history, features.MAX_DEVICES, features.MAX_EVENTS_KEPT)


@settings(max_examples=60, deadline=None, database=None)
@given(history=histories(), caps=st.sampled_from([(3, 5), (features.MAX_DEVICES, features.MAX_EVENTS_KEPT)]))
def test_the_packed_state_reloads_as_the_json_state_did_and_keeps_parity(history, caps):
    """Reloading every customer from its packed bytes before each event (what the consumer does between
    batches) gives exactly the state the previous release's JSON gave, and the features stay equal
    to the offline path's."""
    events, labels = history
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "MAX_DEVICES", caps[0])
        patch.setattr(features, "MAX_EVENTS_KEPT", caps[1])
        offline = compute_offline_features(events, labels)[list(FEATURE_NAMES)].to_numpy()
        state = InMemoryFeatureState()
        rows = []
        for record in canonical_order(events).to_dict("records"):
            event = validate_event({**record, "timestamp": format_timestamp(record["timestamp_ms"])})
            customer = state.customer(event.customer_id)
            packed = CustomerState.from_bytes(customer.to_bytes())
            assert packed == CustomerState.from_dict(json.loads(json.dumps(customer.to_dict())))
            state.customers[event.customer_id] = packed
            rows.append(state.process(event))
    columns = [i for i, name in enumerate(FEATURE_NAMES) if not name.startswith("term_fraud")]
    assert np.allclose(np.array(rows)[:, columns], offline[:, columns], rtol=1e-9, atol=1e-9)


def test_a_packed_state_that_does_not_add_up_is_refused():
    packed = CustomerState(START_MS, {"d": START_MS}, [START_MS], [0.0, 1.0]).to_bytes()
    assert CustomerState.from_bytes(packed).amounts() == [1.0]
    with pytest.raises(ValueError, match="packed state is 44 bytes, its contents 45"):
        CustomerState.from_bytes(packed[:-1])
    with pytest.raises(ValueError, match="packed state has version 00, not 1"):
        CustomerState.from_bytes(b"\x00" + packed[1:])


def test_the_history_exercises_every_feature(small_history):
    """Parity on all-zero columns would prove nothing: each feature must actually vary."""
    events, labels = small_history
    offline = compute_offline_features(events, labels)
    constant = [name for name in FEATURE_NAMES if offline[name].nunique() < 2]
    assert constant == []
    assert offline["term_fraud_rate_7d"].gt(0).sum() > 20


def test_terminal_fraud_rate_ignores_labels_not_yet_known(small_history):
    events, labels = small_history
    features = compute_offline_features(events, labels).set_index("request_id")
    hidden = labels.assign(label_available_ms=labels["label_available_ms"] + 60 * MS_PER_DAY)
    late = compute_offline_features(events, hidden).set_index("request_id")
    assert features["term_fraud_rate_30d"].sum() > 0
    assert late["term_fraud_rate_30d"].sum() == 0


def test_state_survives_a_round_trip_through_its_stored_form(small_history):
    """The consumer keeps entity state in a table between invocations: reloading must change nothing."""
    events, labels = small_history
    expected = online_feature_matrix(events, labels)
    ordered = canonical_order(events).to_dict("records")
    state = InMemoryFeatureState()
    half = len(ordered) // 2
    parsed = [validate_event({**row, "timestamp": format_timestamp(row["timestamp_ms"])}) for row in ordered]
    first_half = [state.process(event) for event in parsed[:half]]
    reloaded = InMemoryFeatureState()
    reloaded.customers = {k: CustomerState.from_dict(v.to_dict()) for k, v in state.customers.items()}
    reloaded.terminals = {k: TerminalState.from_dict(v.to_dict()) for k, v in state.terminals.items()}
    second_half = [reloaded.process(event) for event in parsed[half:]]
    # Terminal fraud labels are not fed here, so compare only the customer and per-event columns.
    customer_columns = [i for i, name in enumerate(FEATURE_NAMES) if not name.startswith("term_fraud")]
    replay = np.array(first_half + second_half)[:, customer_columns]
    assert np.allclose(replay, expected[:, customer_columns], rtol=1e-9, atol=1e-9)


def _event(i: int, t: int, device: str, amount: float = 10.0) -> TransactionEvent:
    return TransactionEvent(f"r{i:05d}", "C1", "T1", "grocery", amount, t, device, 1.0)


def test_a_device_unseen_for_the_history_window_is_forgotten():
    state = InMemoryFeatureState()
    state.process(_event(0, START_MS, "old"))
    customer = state.customer("C1")
    edge = features.online_features(_event(1, START_MS + HISTORY_MS, "old"), customer, TerminalState())
    past = features.online_features(_event(1, START_MS + HISTORY_MS + 1, "old"), customer, TerminalState())
    assert (edge[SEEN], past[SEEN]) == (1.0, 0.0)  # [t - 30 d, t) is half-open on the past
    state.process(_event(2, START_MS + HISTORY_MS + 1, "new"))
    assert list(customer.devices) == ["new"]  # forgotten, not only ignored


def test_only_the_most_recently_seen_devices_are_kept(monkeypatch):
    monkeypatch.setattr(features, "MAX_DEVICES", 3)
    state = InMemoryFeatureState()
    for i, device in enumerate(["a", "b", "c", "a", "d"]):  # "a" seen again: "b" is now the oldest
        state.process(_event(i, START_MS + i * 1000, device))
    assert list(state.customer("C1").devices) == ["c", "a", "d"]
    assert state.process(_event(5, START_MS + 5000, "b"))[SEEN] == 0.0
    assert state.process(_event(6, START_MS + 6000, "d"))[SEEN] == 1.0


def test_customer_windows_count_only_the_kept_events(monkeypatch):
    monkeypatch.setattr(features, "MAX_EVENTS_KEPT", 5)
    state = InMemoryFeatureState()
    for i in range(8):
        state.process(_event(i, START_MS + i * 1000, "a", amount=float(i)))
    vector = state.process(_event(8, START_MS + 8000, "a"))
    assert len(state.customer("C1").times_ms) == 5
    assert vector[FEATURE_NAMES.index("cust_count_1d")] == 5.0
    assert vector[FEATURE_NAMES.index("cust_mean_amount_30d")] == (3 + 4 + 5 + 6 + 7) / 5
    assert vector[FEATURE_NAMES.index("time_since_last_s")] == 1.0  # the last event is never dropped


def test_the_stored_form_keeps_the_order_the_devices_were_last_seen_in(monkeypatch):
    monkeypatch.setattr(features, "MAX_DEVICES", 3)
    state = InMemoryFeatureState()
    for i, device in enumerate(["c", "b", "a", "c"]):
        state.process(_event(i, START_MS + i * 1000, device))
    reloaded = CustomerState.from_dict(json.loads(json.dumps(state.customer("C1").to_dict())))
    assert list(reloaded.devices.items()) == list(state.customer("C1").devices.items())
    features.update_customer(reloaded, _event(4, START_MS + 4000, "d"))
    assert list(reloaded.devices) == ["a", "c", "d"]  # "b", the least recently seen, went


def test_state_written_before_devices_had_times_still_loads(monkeypatch):
    """Items the previous code wrote: a sorted device list, no times, no caps."""
    monkeypatch.setattr(features, "MAX_DEVICES", 2)
    monkeypatch.setattr(features, "MAX_EVENTS_KEPT", 3)
    last = START_MS + 4 * 1000
    old = {
        "last_ms": last,
        "devices": ["a", "b", "c"],
        "times_ms": [START_MS + i * 1000 for i in range(5)],
        "amounts": [1.0, 2.0, 3.0, 4.0, 5.0],
    }
    state = CustomerState.from_dict(json.loads(json.dumps(old)))
    assert state.devices == {"b": last, "c": last}  # taken as seen at the last event, then capped
    assert (state.times_ms, state.amounts()) == (old["times_ms"][2:], [3.0, 4.0, 5.0])
    soon = features.online_features(_event(5, last + HISTORY_MS, "c"), state, TerminalState())
    late = features.online_features(_event(5, last + HISTORY_MS + 1, "c"), state, TerminalState())
    assert (soon[SEEN], late[SEEN]) == (1.0, 0.0)


def test_a_state_whose_lists_disagree_is_refused():
    with pytest.raises(ValueError, match="2 times_ms but 1 amounts"):
        CustomerState.from_dict({"last_ms": 1, "devices": {}, "times_ms": [0, 1], "amounts": [1.0]})
