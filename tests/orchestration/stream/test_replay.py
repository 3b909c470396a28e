"""Replaying simulated transactions into a real Kinesis stream: time order, how many are sent, the
deliberately broken share; run_traffic's refusals; and the online state a backfill seeds."""

import json

import pytest

from orchestration.data.offline_features import canonical_order
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.stream.replay import (
    ShardMap,
    TrafficConfig,
    TrafficTargets,
    backfill_feature_state,
    event_payloads,
    replay,
    run_traffic,
)
from orchestration.stream.stack import ensure_stream, ensure_table
from serving.consumer.state_store import DynamoFeatureStore
from serving.features import MS_PER_DAY, InMemoryFeatureState
from serving.kpl import user_data
from serving.schemas import EventValidationError, validate_event


@pytest.fixture(scope="module")
def world():
    events, labels = simulate(SimulationConfig(n_customers=60, n_terminals=20, n_days=6, seed=5))
    return canonical_order(events), labels


def _stream(emulator, name: str) -> str:
    ensure_stream(emulator.client("kinesis"), name, 1)
    return name


def _read_all(kinesis, stream: str, expected: int) -> list[bytes]:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    data: list[bytes] = []
    while True:
        page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        data += [user for record in page["Records"] for user in user_data(record["Data"])]
        iterator = page["NextShardIterator"]
        if not page["Records"] and (len(data) >= expected or page["MillisBehindLatest"] == 0):
            return data


def _decode(data: bytes):
    try:
        return validate_event(json.loads(data))
    except (json.JSONDecodeError, EventValidationError):
        return None


def test_replay_sends_rate_times_duration_events_in_time_order(emulator, world):
    events, _ = world
    kinesis = emulator.client("kinesis")
    stream = _stream(emulator, "replay-order")
    report = replay(kinesis, stream, events, TrafficConfig(rate=2000, duration_s=0.1))
    assert report.sent == 200 and report.malformed == 0
    sent = [_decode(data) for data in _read_all(kinesis, stream, 200)]
    assert len(sent) == 200  # and not one more from the rest of the frame
    assert [event.request_id for event in sent] == events["request_id"].iloc[:200].tolist()
    assert [event.timestamp_ms for event in sent] == sorted(event.timestamp_ms for event in sent)
    assert report.request_ids == events["request_id"].iloc[:200].tolist()
    assert report.seconds > 0 and report.rate > 0


def test_replay_packs_records_into_aggregates_or_sends_them_plain(emulator, world):
    events, _ = world
    kinesis = emulator.client("kinesis")
    packed = replay(
        kinesis, _stream(emulator, "replay-packed"), events, TrafficConfig(rate=4000, duration_s=0.1)
    )
    plain_stream = _stream(emulator, "replay-plain")
    plain = replay(kinesis, plain_stream, events, TrafficConfig(rate=4000, duration_s=0.1, aggregate=False))
    assert packed.sent == plain.sent == 400
    assert plain.kinesis_records == 400
    assert packed.kinesis_records < 400 / 10  # a tick's records share a handful of aggregates
    assert _read_all(kinesis, "replay-packed", 400) == _read_all(kinesis, plain_stream, 400)


def test_an_aggregate_holds_only_records_bound_for_its_shard(emulator, world):
    events, _ = world
    kinesis = emulator.client("kinesis")
    ensure_stream(kinesis, "replay-shards", 4)
    replay(kinesis, "replay-shards", events, TrafficConfig(rate=4000, duration_s=0.1))
    shards = ShardMap(kinesis, "replay-shards")
    shard_ids = sorted(s["ShardId"] for s in kinesis.list_shards(StreamName="replay-shards")["Shards"])
    by_customer: dict[str, list[str]] = {}
    for index, shard_id in enumerate(shard_ids):
        iterator = kinesis.get_shard_iterator(
            StreamName="replay-shards", ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in kinesis.get_records(ShardIterator=iterator, Limit=10000)["Records"]:
            for data in user_data(record["Data"]):
                event = json.loads(data)
                assert shards.shard_of(event["customer_id"]) == index  # where its own key would go
                by_customer.setdefault(event["customer_id"], []).append(event["request_id"])
    assert len(by_customer) > 4
    sent = events.iloc[:400]
    for customer, request_ids in by_customer.items():  # each customer's events in the order sent
        assert request_ids == sent[sent["customer_id"] == customer]["request_id"].tolist()


def test_replay_stops_when_the_events_run_out(emulator, world):
    events, _ = world
    kinesis = emulator.client("kinesis")
    stream = _stream(emulator, "replay-short")
    report = replay(kinesis, stream, events.iloc[:30], TrafficConfig(rate=5000, duration_s=1))
    assert report.sent == 30
    assert len(_read_all(kinesis, stream, 30)) == 30


def test_the_malformed_share_is_sent_broken_and_counted(emulator, world):
    events, _ = world
    kinesis = emulator.client("kinesis")
    stream = _stream(emulator, "replay-broken")
    report = replay(kinesis, stream, events, TrafficConfig(rate=3000, duration_s=0.1, malformed_share=0.3))
    records = [_decode(data) for data in _read_all(kinesis, stream, 300)]
    broken = sum(record is None for record in records)
    assert len(records) == report.sent == 300
    assert broken == report.malformed
    assert 40 <= broken <= 140  # about 30%
    valid_ids = [record.request_id for record in records if record is not None]
    assert valid_ids == report.request_ids
    assert len(report.request_ids) + report.malformed == report.sent


def test_a_malformed_share_above_half_is_refused():
    with pytest.raises(ValueError, match="malformed_share"):
        TrafficConfig(malformed_share=0.9)


def _targets(emulator, name: str) -> TrafficTargets:
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, f"{name}-state", "pk")
    ensure_table(dynamodb, f"{name}-labels", "request_id")
    return TrafficTargets(_stream(emulator, f"{name}-in"), f"{name}-state", f"{name}-labels")


def test_run_traffic_refuses_a_start_day_past_the_data(emulator, world):
    events, labels = world
    targets = _targets(emulator, "traffic-late")
    with pytest.raises(ValueError, match=r"start_day 6 is past the last simulated day"):
        run_traffic(emulator.client, targets, events, labels, TrafficConfig(start_day=6))


def test_run_traffic_refuses_an_offset_past_the_end(emulator, world):
    events, labels = world
    targets = _targets(emulator, "traffic-offset")
    with pytest.raises(ValueError, match=r"offset 100000 is past the last event after start_day 5"):
        run_traffic(emulator.client, targets, events, labels, TrafficConfig(start_day=5, offset=100_000))


def test_run_traffic_seeds_state_writes_labels_and_continues_from_an_offset(emulator, world):
    events, labels = world
    targets = _targets(emulator, "traffic-run")
    config = TrafficConfig(start_day=4, offset=10, rate=2000, duration_s=0.05)
    report = run_traffic(emulator.client, targets, events, labels, config)
    start_ms = int(events["timestamp_ms"].min()) // MS_PER_DAY * MS_PER_DAY + 4 * MS_PER_DAY
    live = events[events["timestamp_ms"] >= start_ms].iloc[10:110]
    assert report.request_ids == live["request_id"].tolist()
    assert report.labels_written == labels["request_id"].isin(live["request_id"]).sum() > 0
    history = events[events["timestamp_ms"] < start_ms]
    assert report.state_items_seeded == history["customer_id"].nunique() + history["terminal_id"].nunique()


def test_backfill_writes_the_state_the_online_path_would_have(emulator, world):
    events, labels = world
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, "backfill-state", "pk")
    store = DynamoFeatureStore(dynamodb, "backfill-state")
    known_by = int(events["timestamp_ms"].min()) + 4 * MS_PER_DAY
    history = events[events["timestamp_ms"] < known_by - MS_PER_DAY]
    written = backfill_feature_state(store, history.sample(frac=1, random_state=0), labels, known_by)

    online = InMemoryFeatureState()  # the consumer's per-event fold, in stream (time) order
    for payload in event_payloads(history):
        online.process(validate_event(json.loads(json.dumps(payload))))
    assert written == len(online.customers) + len(online.terminals)

    loaded = store.load(set(online.customers), set(online.terminals))
    for customer_id, state in online.customers.items():
        assert loaded.customers[customer_id].state == state, customer_id
        last = history[history["customer_id"] == customer_id].iloc[-1]
        assert loaded.customers[customer_id].applied_through == (int(last.timestamp_ms), last.request_id)
    for terminal_id, state in online.terminals.items():
        assert loaded.terminals[terminal_id].daily_counts == state.daily_counts, terminal_id

    # Frauds are on their terminals by transaction day, only when their label was available by known_by.
    frauds = labels[labels["is_fraud"]].merge(history, on="request_id")
    known = frauds[frauds["label_available_ms"] <= known_by]
    expected = known.groupby(["terminal_id", known["timestamp_ms"] // MS_PER_DAY]).size()
    got = {
        (terminal_id, day): count
        for terminal_id, state in loaded.terminals.items()
        for day, count in state.daily_known_frauds.items()
    }
    assert got == {key: int(count) for key, count in expected.items()} and got
    assert len(frauds) > len(known)  # some labels were still pending and were left to the chargeback feed
