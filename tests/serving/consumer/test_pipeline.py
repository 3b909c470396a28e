"""The consumer's batch work against real services (the emulator), called as the handler calls it."""

import dataclasses
import hashlib
import json

from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.fallback import FALLBACK_MODEL_VERSION
from serving.consumer.pipeline import process_batch
from serving.consumer.sinks import OUTPUT_FIELDS
from serving.consumer.state_store import customer_from_item, customer_key
from serving.features import CustomerState
from serving.kpl import MAGIC, encode_aggregate, user_data


def _stored_state(item: dict) -> CustomerState:
    return customer_from_item(item).state


def _aggregate(records, payloads: list[dict]) -> dict:
    """One Kinesis record holding the payloads as a KPL aggregate."""
    users = [(p["customer_id"], json.dumps(p).encode()) for p in payloads]
    return records.raw(encode_aggregate(users), partition_key=users[0][0])


def test_every_record_is_accounted_for_exactly_once(
    clients, consumer_config, records, make_scorer, stored_predictions, dead_letters
):
    batch = [records.event(i, customer=f"C{i % 7}") for i in range(120)]
    batch.insert(10, records.raw(b"{not json"))
    batch.insert(50, records.raw(json.dumps({**records.payload(999), "amount": "lots"}).encode()))
    batch.insert(80, records.raw(b"\xff\xfe binary"))
    outcome = process_batch(batch, consumer_config, clients, make_scorer())

    assert outcome.failed_sequences == set()
    assert (outcome.records_in, outcome.predictions, outcome.fallbacks, outcome.dead_lettered) == (
        123,
        120,
        0,
        3,
    )
    stored = stored_predictions(consumer_config.audit_bucket)
    assert set(stored) == {f"req-{i}" for i in range(120)}
    sample = stored["req-5"]
    assert sample["model_version"] == "consumer-test-v1" and sample["variant"] == "production"
    assert sample["fallback"] is False and sample["decision"] in ("approve", "decline")
    letters = dead_letters(consumer_config.dead_letter_queue_url)
    reasons = sorted(letter["reason"].split(":")[0] for letter in letters)
    assert reasons == ["data is not UTF-8 text", "not JSON", "schema"]
    schema_letter = next(letter for letter in letters if letter["reason"].startswith("schema"))
    assert "'amount'" in schema_letter["reason"] and '"lots"' in schema_letter["payload"]
    assert {letter["sequence_number"] for letter in letters} == {
        batch[i]["kinesis"]["sequenceNumber"] for i in (10, 50, 80)
    }
    assert all(letter["shard_id"] == "shardId-000000000000" for letter in letters)


def test_a_replayed_batch_adds_no_duplicates_and_does_not_recount_state(
    clients, consumer_config, records, make_scorer, stored_predictions
):
    batch = [records.event(i, customer="C-replay") for i in range(20)]
    process_batch(batch, consumer_config, clients, make_scorer())
    state_before = clients.dynamodb.get_item(
        TableName=consumer_config.feature_state_table, Key=customer_key("C-replay")
    )
    process_batch(batch, consumer_config, clients, make_scorer())
    state_after = clients.dynamodb.get_item(
        TableName=consumer_config.feature_state_table, Key=customer_key("C-replay")
    )

    assert len(stored_predictions(consumer_config.audit_bucket)) == 20
    assert state_after["Item"]["state"] == state_before["Item"]["state"]
    assert len(_stored_state(state_after["Item"]).times_ms) == 20


def test_online_state_carries_across_batches(clients, consumer_config, records, make_scorer):
    process_batch(
        [records.event(i, customer="C-hist", minute=1) for i in range(5)],
        consumer_config,
        clients,
        make_scorer(),
    )
    process_batch(
        [records.event(100, customer="C-hist", minute=2)],
        consumer_config,
        clients,
        make_scorer(),
    )
    item = clients.dynamodb.get_item(
        TableName=consumer_config.feature_state_table, Key=customer_key("C-hist")
    )["Item"]
    assert len(_stored_state(item).times_ms) == 6
    terminal = clients.dynamodb.get_item(
        TableName=consumer_config.feature_state_table, Key={"pk": {"S": "T#T1"}}
    )
    assert sum(int(v["N"]) for k, v in terminal["Item"].items() if k.startswith("n_")) >= 2


def test_endpoint_down_gives_flagged_fallbacks_then_recovers(
    clients, consumer_config, records, make_scorer, stored_predictions, clock
):
    breaker = CircuitBreaker(1, 0.5, clock)  # the batch is one request: its failure opens the circuit
    down = make_scorer("no-such-endpoint", breaker)
    batch = [records.event(i, customer=f"D{i}", amount=900.0 if i == 0 else 20.0) for i in range(10)]
    outcome = process_batch(batch, consumer_config, clients, down)
    assert (outcome.predictions, outcome.fallbacks, outcome.failed_sequences) == (0, 10, set())
    stored = stored_predictions(consumer_config.audit_bucket)
    assert all(item["fallback"] for item in stored.values())
    assert all(item["model_version"] == FALLBACK_MODEL_VERSION for item in stored.values())
    assert "no-such-endpoint" in stored["req-3"]["fallback_reason"]
    assert stored["req-0"]["decision"] == "review"  # the rule sends large amounts to review
    assert stored["req-1"]["decision"] == "approve"

    outcome = process_batch([records.event(100, customer="D-open")], consumer_config, clients, down)
    assert breaker.state == "OPEN" and outcome.fallbacks == 1
    assert "circuit open" in stored_predictions(consumer_config.audit_bucket)["req-100"]["fallback_reason"]

    clock.advance(0.5)  # the cool-down passes; the next call is a probe against a healthy endpoint
    healthy = make_scorer(breaker=breaker)
    outcome = process_batch([records.event(200, customer="D-after")], consumer_config, clients, healthy)
    assert (outcome.predictions, outcome.fallbacks) == (1, 0)
    assert breaker.state == "CLOSED"


def test_sink_failure_reports_the_records_for_redelivery(clients, consumer_config, records, make_scorer):
    broken = consumer_config.__class__(**{**consumer_config.__dict__, "output_stream": "no-such-stream"})
    batch = [records.event(i, customer="C-sink") for i in range(5)]
    outcome = process_batch(batch, broken, clients, make_scorer())
    assert outcome.failed_sequences == {record["kinesis"]["sequenceNumber"] for record in batch}


def _output_records(clients, stream: str) -> list[dict]:
    records = []
    for shard in clients.kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = clients.kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += [
            json.loads(data)
            for r in clients.kinesis.get_records(ShardIterator=iterator)["Records"]
            for data in user_data(r["Data"])
        ]
    return records


def test_the_output_stream_carries_each_decision_as_the_audit_object_has_it(
    clients, consumer_config, records, make_scorer, stored_predictions
):
    batch = [records.event(i, customer=f"C{i % 3}") for i in range(30)]
    process_batch(batch, consumer_config, clients, make_scorer())

    published = _output_records(clients, consumer_config.output_stream)
    assert sorted(p["request_id"] for p in published) == sorted(f"req-{i}" for i in range(30))
    assert all(set(p) == set(OUTPUT_FIELDS) for p in published)  # audit-only fields stay in the object
    stored = stored_predictions(consumer_config.audit_bucket)
    for message in published:
        item = stored[message["request_id"]]
        assert message["score"] == item["score"]
        assert message["decision"] == item["decision"]
        assert message["model_version"] == item["model_version"]
        assert message["predicted_ms"] == item["predicted_ms"]


def test_duplicates_in_a_batch_keep_the_first_and_dead_letter_the_rest(
    clients, consumer_config, records, make_scorer, stored_predictions, dead_letters
):
    first = records.event(1, customer="C-dup", amount=10.0)
    retried = records.event(1, customer="C-dup", amount=10.0)  # a retrying producer's second send
    changed = records.event(1, customer="C-dup", amount=999.0)  # same id, other content
    batch = [first, records.event(2, customer="C-dup"), retried, changed]
    outcome = process_batch(batch, consumer_config, clients, make_scorer())

    assert outcome.failed_sequences == set()
    stored = stored_predictions(consumer_config.audit_bucket)
    assert set(stored) == {"req-1", "req-2"}
    assert stored["req-1"]["sequence_number"] == first["kinesis"]["sequenceNumber"]
    assert stored["req-1"]["amount"] == 10.0
    letters = dead_letters(consumer_config.dead_letter_queue_url)
    assert {letter["sequence_number"] for letter in letters} == {
        retried["kinesis"]["sequenceNumber"],
        changed["kinesis"]["sequenceNumber"],
    }
    first_sequence = first["kinesis"]["sequenceNumber"]
    assert all(
        letter["reason"]
        == f"duplicate: request_id 'req-1' is already in this batch at sequence number {first_sequence}"
        for letter in letters
    )
    item = clients.dynamodb.get_item(TableName=consumer_config.feature_state_table, Key=customer_key("C-dup"))
    assert len(_stored_state(item["Item"]).times_ms) == 2  # the repeats changed no state


def test_a_damaged_state_item_dead_letters_its_customers_events_only(
    clients, consumer_config, records, make_scorer, stored_predictions, dead_letters
):
    clients.dynamodb.put_item(
        TableName=consumer_config.feature_state_table,
        Item={**customer_key("C-broken"), "state": {"S": "{truncated"}},
    )
    batch = [records.event(i, customer="C-broken" if i % 2 else "C-fine") for i in range(6)]
    outcome = process_batch(batch, consumer_config, clients, make_scorer())

    assert outcome.failed_sequences == set()
    assert set(stored_predictions(consumer_config.audit_bucket)) == {"req-0", "req-2", "req-4"}
    letters = dead_letters(consumer_config.dead_letter_queue_url)
    assert sorted(json.loads(letter["payload"])["request_id"] for letter in letters) == [
        "req-1",
        "req-3",
        "req-5",
    ]
    assert all(
        letter["reason"].startswith(
            f"feature state item C#C-broken in {consumer_config.feature_state_table} is damaged: "
            "JSONDecodeError"
        )
        for letter in letters
    )
    item = clients.dynamodb.get_item(
        TableName=consumer_config.feature_state_table, Key=customer_key("C-broken")
    )
    assert item["Item"]["state"]["S"] == "{truncated"  # left for an operator to see, not overwritten


def test_every_user_record_of_an_aggregate_is_accounted_for_once(
    clients, consumer_config, records, make_scorer, stored_predictions, dead_letters
):
    payloads = [records.payload(i, customer=f"C{i % 5}") for i in range(40)]
    payloads[7] = {**payloads[7], "amount": "lots"}
    damaged = records.raw(MAGIC + b"\x0a\x05a" + hashlib.md5(b"\x0a\x05a").digest())
    batch = [
        _aggregate(records, payloads[:20]),
        damaged,
        _aggregate(records, payloads[20:]),
        records.event(99),
    ]
    outcome = process_batch(batch, consumer_config, clients, make_scorer())

    assert outcome.failed_sequences == set()
    assert (outcome.records_in, outcome.predictions, outcome.dead_lettered) == (42, 40, 2)
    stored = stored_predictions(consumer_config.audit_bucket)
    assert set(stored) == {f"req-{i}" for i in range(40) if i != 7} | {"req-99"}
    assert stored["req-23"]["sequence_number"] == batch[2]["kinesis"]["sequenceNumber"]
    assert stored["req-23"]["sub_sequence_number"] == 3
    letters = {
        letter["reason"].split(":")[0]: letter
        for letter in dead_letters(consumer_config.dead_letter_queue_url)
    }
    assert set(letters) == {"schema", "damaged KPL aggregate"}
    assert (letters["schema"]["sequence_number"], letters["schema"]["sub_sequence_number"]) == (
        batch[0]["kinesis"]["sequenceNumber"],
        7,
    )
    assert letters["schema"]["partition_key"] == "C2"  # the user record's own key
    assert letters["damaged KPL aggregate"]["reason"] == (
        "damaged KPL aggregate: AggregatedRecord: field 1 of 5 bytes runs past the end"
    )
    assert letters["damaged KPL aggregate"]["sequence_number"] == damaged["kinesis"]["sequenceNumber"]


def test_a_redelivered_aggregate_changes_no_state_twice(clients, consumer_config, records, make_scorer):
    """A failed user record fails its whole aggregate; the redelivery must not count the others again."""
    aggregate = _aggregate(records, [records.payload(i, customer=f"C-agg{i % 2}") for i in range(10)])
    process_batch([aggregate], consumer_config, clients, make_scorer())
    before = clients.dynamodb.scan(TableName=consumer_config.feature_state_table)["Items"]
    outcome = process_batch([aggregate], consumer_config, clients, make_scorer())
    after = clients.dynamodb.scan(TableName=consumer_config.feature_state_table)["Items"]

    assert outcome.failed_sequences == set() and outcome.predictions == 10
    states = {item["pk"]["S"]: item for item in after if item["pk"]["S"].startswith("C#")}
    assert [len(_stored_state(states[f"C#C-agg{c}"]).times_ms) for c in (0, 1)] == [5, 5]
    customers = lambda items: {i["pk"]["S"]: i["state"] for i in items if i["pk"]["S"].startswith("C#")}  # noqa: E731
    assert customers(after) == customers(before)


def test_a_user_record_that_cannot_be_written_fails_its_whole_aggregate(
    clients, consumer_config, records, make_scorer
):
    aggregate = _aggregate(records, [records.payload(i, customer="C-lost") for i in range(3)])
    plain = records.event(9, customer="C-other")
    broken = dataclasses.replace(consumer_config, output_stream="no-such-stream")
    outcome = process_batch([aggregate, plain], broken, clients, make_scorer())
    assert outcome.failed_sequences == {
        aggregate["kinesis"]["sequenceNumber"],
        plain["kinesis"]["sequenceNumber"],
    }


def test_a_duplicate_inside_an_aggregate_names_the_first_by_its_sub_sequence(
    clients, consumer_config, records, make_scorer, dead_letters
):
    payload = records.payload(1, customer="C-dup-agg")
    aggregate = _aggregate(records, [records.payload(0, customer="C-dup-agg"), payload, payload])
    process_batch([aggregate], consumer_config, clients, make_scorer())
    (letter,) = dead_letters(consumer_config.dead_letter_queue_url)
    sequence = aggregate["kinesis"]["sequenceNumber"]
    assert letter["sub_sequence_number"] == 2
    assert letter["reason"] == (
        f"duplicate: request_id 'req-1' is already in this batch at sequence number {sequence} sub-sequence 1"
    )
