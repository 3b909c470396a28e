"""Generated batches of valid and hostile records, through the packaged consumer running as a real Lambda
function on the emulator (invoked with a Kinesis event as the event-source mapping sends it).

After each batch:
- every record ends in exactly one place: a row of the batch's audit object (flagged when a fallback)
  or a DLQ letter;
- with the DLQ unreachable, batchItemFailures name exactly the records that are not rows, with their
  sequence numbers as they came in;
- with the audit bucket unwritable, every prediction is reported and none is stored; redelivered from
  the lowest failure (as Lambda does) to the healthy function, each record then is in one place;
- no request id has two rows, and a row is its request id's first occurrence in the batch;
- the online state the function stored equals the offline features over the same events.

RTINFER_HOSTILE_EXAMPLES sets the number of batches (the suite runs a few dozen; a nightly run more).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import count

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.data.offline_features import compute_offline_features
from orchestration.stream.audit_log import decode_object
from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS, read_dead_letter
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.stack import (
    StreamStackSpec,
    ensure_bucket,
    ensure_function,
    ensure_queue,
    ensure_stream,
    ensure_table,
)
from serving.consumer.audit import batch_prefix
from serving.consumer.decode import StreamPosition
from serving.consumer.fallback import FALLBACK_MODEL_VERSION
from serving.consumer.state_store import DynamoFeatureStore
from serving.features import FEATURE_NAMES, MS_PER_DAY, online_features
from serving.schemas import MERCHANT_CATEGORIES, TransactionEvent

EXAMPLES = int(os.environ.get("RTINFER_HOSTILE_EXAMPLES", "15"))
KINESIS_RECORD_LIMIT = 1024 * 1024
INVOKE_PAYLOAD_LIMIT = 6 * 1024 * 1024
_SEQUENCE = count(49_650_000_000_000_000_000)
_STATS: Counter = Counter()


@dataclass(frozen=True)
class Functions:
    healthy: str
    dlq_unreachable: str
    audit_unwritable: str
    audit_bucket: str
    feature_state_table: str
    dlq_url: str


@pytest.fixture(scope="module")
def functions(emulator, fraud_endpoint, tmp_path_factory) -> Functions:
    """Three deployments of the same package: one whole, one whose dead-letter queue does not exist,
    one whose audit bucket does not."""
    spec = StreamStackSpec.named(f"hostile-{uuid.uuid4().hex[:6]}", endpoint_name=fraud_endpoint)
    ensure_stream(emulator.client("kinesis"), spec.output_stream, 1)
    ensure_bucket(emulator.client("s3"), spec.audit_bucket)
    ensure_table(emulator.client("dynamodb"), spec.feature_state_table, "pk")
    dlq_url, _ = ensure_queue(emulator.client("sqs"), spec.dead_letter_queue)
    ensure_bucket(emulator.client("s3"), spec.dead_letter_bucket)
    package = build_lambda_zip(tmp_path_factory.mktemp("hostile") / "consumer.zip")
    lambda_client = emulator.client("lambda")
    role = emulator.settings.sagemaker_role_arn
    ensure_function(lambda_client, spec, package, role, dlq_url)
    broken = spec.model_copy(update={"function_name": f"{spec.function_name}-nodlq"})
    ensure_function(lambda_client, broken, package, role, dlq_url.rsplit("/", 1)[0] + "/no-such-queue")
    unwritable = spec.model_copy(
        update={"function_name": f"{spec.function_name}-noaudit", "audit_bucket": f"{spec.audit_bucket}-gone"}
    )
    ensure_function(lambda_client, unwritable, package, role, dlq_url)
    return Functions(
        spec.function_name,
        broken.function_name,
        unwritable.function_name,
        spec.audit_bucket,
        spec.feature_state_table,
        dlq_url,
    )


# ---- what the world sends -------------------------------------------------------------------------

ODD_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["\ud800", "a\udfffb", "", "   ", "x" * 129, "🙂" * 128, "\x00", "Zoë"]
)
ODD_NUMBERS = st.sampled_from([10**400, -(10**30), 2**63, 1e308, -0.0, 1e-320, 1_000_000.0001]) | st.floats()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | ODD_NUMBERS | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=8,
)
ODD_TIMES = st.sampled_from(
    ["9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00"]
)


@dataclass
class World:
    """One example's batch, and what the test knows about each record it generated."""

    prefix: str
    arrival_s: float
    records: list[dict] = field(default_factory=list)
    valid: dict[str, TransactionEvent] = field(default_factory=dict)  # sequence number -> event


def _kinesis_record(data: bytes, partition_key: str, arrival_s: float) -> dict:
    sequence = str(next(_SEQUENCE)) + "".join(str(d % 10) for d in range(35))  # 56 digits, as Kinesis's
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival_s,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/hostile",
        "awsRegion": "us-east-1",
    }


@st.composite
def valid_events(draw, world: World) -> TransactionEvent:
    """An event the schema must accept: ids from small pools (so customers, terminals and devices repeat,
    and request ids collide as a retrying producer's do), times from 40 days back to just past arrival."""
    ids = ["", "-Zoë", "-🙂", "-\u2603"]
    arrival_ms = int(world.arrival_s * 1000)
    return TransactionEvent(
        request_id=f"{world.prefix}r{draw(st.integers(0, 40))}",
        customer_id=f"{world.prefix}C{draw(st.integers(0, 3))}{draw(st.sampled_from(ids))}",
        terminal_id=f"{world.prefix}T{draw(st.integers(0, 2))}",
        merchant_category=draw(st.sampled_from(MERCHANT_CATEGORIES)),
        # in cents, as payments are: a window's mean is then a difference of running sums that stays
        # exact enough for both computations (a subnormal amount is valid, but its ratio features are
        # float noise either way)
        amount=draw(st.integers(0, 100_000_000)) / 100,
        timestamp_ms=arrival_ms + draw(st.integers(-40 * MS_PER_DAY, 200_000)),
        device_id=f"d{draw(st.integers(0, 3))}{draw(st.sampled_from(ids))}",
        distance_from_home=draw(st.floats(0, 40_100, allow_nan=False)),
    )


@st.composite
def hostile_payloads(draw, world: World) -> tuple[bytes, str]:
    """A record the schema must refuse, or that is not an event at all: (data, partition key)."""
    base = {
        **draw(valid_events(world)).to_dict(),
        "request_id": f"{world.prefix}h{draw(st.integers(0, 10**6))}",
        "customer_id": f"{world.prefix}H",  # hostile records touch no customer the parity check reads
        "terminal_id": f"{world.prefix}HT",
    }
    kind = draw(st.sampled_from(["field", "missing", "json", "bytes", "huge"]))
    if kind == "field":
        name = draw(st.sampled_from(sorted(base)))
        base[name] = draw(JSON_VALUES | ODD_TIMES if name == "timestamp" else JSON_VALUES)
        data = json.dumps(base).encode()  # NaN and Infinity travel as the bare tokens Python writes
    elif kind == "missing":
        base.pop(draw(st.sampled_from(sorted(base))))
        data = json.dumps(base).encode()
    elif kind == "json":
        data = json.dumps(draw(JSON_VALUES)).encode()
    elif kind == "bytes":
        data = draw(st.binary(max_size=300))
    else:  # up to Kinesis's record limit, JSON-escaping-heavy text included
        unit = draw(st.sampled_from(["x", "🙂", '"', "\\u0000"]))
        size = draw(st.integers(1, KINESIS_RECORD_LIMIT // len(unit.encode())))
        text = json.dumps({**base, "note": unit * size}, ensure_ascii=draw(st.booleans()))
        data = text.encode()[:KINESIS_RECORD_LIMIT]  # cut mid-character too: then it is not even UTF-8
    return data, f"{world.prefix}H"


@st.composite
def batches(draw) -> World:
    world = World(prefix=f"{uuid.uuid4().hex[:6]}-", arrival_s=time.time())
    budget = INVOKE_PAYLOAD_LIMIT * 0.7  # base64 and the event's envelope on top
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            event = draw(valid_events(world))
            record = _kinesis_record(json.dumps(event.to_dict()).encode(), event.customer_id, world.arrival_s)
            world.valid[record["kinesis"]["sequenceNumber"]] = event
        else:
            data, key = draw(hostile_payloads(world))
            if len(data) * 4 / 3 > budget:
                continue
            record = _kinesis_record(data, key, world.arrival_s)
        budget -= len(record["kinesis"]["data"])
        world.records.append(record)
    return world


# ---- where each record ended ----------------------------------------------------------------------


def _invoke(lambda_client, function: str, records: list[dict]) -> list[str]:
    response = lambda_client.invoke(FunctionName=function, Payload=json.dumps({"Records": records}))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return [failure["itemIdentifier"] for failure in body["batchItemFailures"]]


def _audit_rows(s3, bucket: str, records: list[dict]) -> list[dict]:
    """The rows of the object the batch `records` wrote (none when it wrote none)."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=batch_prefix(StreamPosition.of(records[0])))
    keys = [entry["Key"] for entry in listed.get("Contents", [])]
    assert len(keys) <= 1, f"one batch, one object: {keys}"
    return [
        row
        for key in keys
        for row in decode_object(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    ]


def _drain_letters(sqs, s3, queue_url: str) -> list[dict]:
    """Every letter on the queue (claim-checked ones read back from S3), deleted once read."""
    letters = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, **RECEIVE_ARGUMENTS
        )
        messages = batch.get("Messages", [])
        if not messages:
            return letters
        for message in messages:
            letter = read_dead_letter(message, s3)
            _STATS["claim-checked letters"] += letter.claim_checked
            letters.append(letter.body)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def _request_id_of(record: dict) -> str | None:
    try:
        payload = json.loads(base64.b64decode(record["kinesis"]["data"]))
        return payload.get("request_id") if isinstance(payload, dict) else None
    except ValueError:
        return None


def _folded(world: World) -> list[TransactionEvent]:
    """The valid events the online state must hold: first occurrences of their request id, each later
    (in time, then request id) than the last one applied to its customer (an earlier one is a replay)."""
    seen, applied, folded = set(), {}, []
    for record in world.records:
        event = world.valid.get(record["kinesis"]["sequenceNumber"])
        if event is None or event.request_id in seen:
            continue
        seen.add(event.request_id)
        order = (event.timestamp_ms, event.request_id)
        if event.customer_id not in applied or order > applied[event.customer_id]:
            applied[event.customer_id] = order
            folded.append(event)
    return folded


def _check_state_against_offline(store: DynamoFeatureStore, folded: list[TransactionEvent]) -> int:
    """A probe event an hour after the last one, per customer: its features from the stored online state
    equal the offline features over the folded events plus the probe."""
    if not folded:
        return 0
    history = pd.DataFrame([{**e.to_dict(), "timestamp_ms": e.timestamp_ms} for e in folded])
    probe_ms = max(e.timestamp_ms for e in folded) + 3_600_000
    checks = 0
    for customer_id in sorted({e.customer_id for e in folded}):
        mine = [e for e in folded if e.customer_id == customer_id]
        probe = TransactionEvent(
            "probe", customer_id, mine[0].terminal_id, "grocery", 10.0, probe_ms, mine[0].device_id, 1.0
        )
        state = store.load({customer_id}, {probe.terminal_id})
        online = online_features(
            probe, state.customers[customer_id].state, state.terminals[probe.terminal_id]
        )
        events = pd.concat([history, pd.DataFrame([{**probe.to_dict(), "timestamp_ms": probe_ms}])])
        labels = pd.DataFrame({"request_id": [], "is_fraud": [], "label_available_ms": []})
        offline = compute_offline_features(events, labels).set_index("request_id").loc["probe"]
        np.testing.assert_allclose(
            online,
            offline[list(FEATURE_NAMES)].to_numpy(np.float64),
            rtol=1e-9,
            atol=1e-9,
            err_msg=customer_id,
        )
        checks += 1
    return checks


def _deliver(clients, functions: Functions, world: World, broken: str | None):
    """Invoke as the mapping would; (rows, letters, failures reported to the mapping in the end)."""
    lambda_client, s3 = clients["lambda"], clients["s3"]
    records = world.records
    drain = _drain_letters if broken != "dlq" else (lambda *_: [])
    if broken == "audit":
        failures = _invoke(lambda_client, functions.audit_unwritable, records)
        letters = drain(clients["sqs"], s3, functions.dlq_url)
        assert not _audit_rows(s3, functions.audit_bucket, records)
        letter_sequences = {letter["sequence_number"] for letter in letters}
        assert not set(failures) & letter_sequences, "a record both reported and a letter"
        assert set(failures) | letter_sequences == {r["kinesis"]["sequenceNumber"] for r in records}
        if not failures:
            return [], letters, []
        lowest = min(map(int, failures))  # Lambda's checkpoint: it resends from here, later ones too
        records = [r for r in records if int(r["kinesis"]["sequenceNumber"]) >= lowest]
        _STATS["redelivered records"] += len(records)
    else:
        letters = []
    function = functions.dlq_unreachable if broken == "dlq" else functions.healthy
    failures = _invoke(lambda_client, function, records)
    letters += drain(clients["sqs"], s3, functions.dlq_url)
    return _audit_rows(s3, functions.audit_bucket, records), letters, failures


def _check_batch(clients, functions: Functions, world: World, broken: str | None) -> None:
    rows, letters, failures = _deliver(clients, functions, world, broken)
    sequences = [record["kinesis"]["sequenceNumber"] for record in world.records]
    row_sequences = [row["sequence_number"] for row in rows]
    mine = {row["request_id"]: row for row in rows}
    letter_sequences = [letter["sequence_number"] for letter in letters]

    # exactly one place
    assert len(set(row_sequences)) == len(row_sequences) == len(mine), "a record or request in two rows"
    assert set(row_sequences) <= set(sequences)
    assert not set(row_sequences) & set(letter_sequences), "a record is both a row and a letter"
    if broken != "dlq":
        assert failures == []
        # Letters are at least once, as SQS standard queues are (a batch resent after a lost response
        # repeats its letters); readers count one per stream position (dead_letter_summary does).
        assert set(letter_sequences) == set(sequences) - set(row_sequences), (
            "a record lost, or a stray letter"
        )
    else:
        # the letters could not be written: exactly those records are reported, verbatim and once
        # (with the predictions after the first of them, which the batch's object does not hold)
        assert Counter(failures) == Counter(s for s in sequences if s not in set(row_sequences))
    assert all(row["fallback"] == (row["model_version"] == FALLBACK_MODEL_VERSION) for row in rows)

    # every valid first occurrence is a row; a row is its request id's first occurrence
    first_valid: dict[str, str] = {}
    for sequence in sequences:
        if (event := world.valid.get(sequence)) is not None:
            first_valid.setdefault(event.request_id, sequence)
    for rid, sequence in first_valid.items():
        if broken == "dlq" and int(sequence) > min(map(int, failures), default=int(sequence)):
            continue  # after the first failed letter: in the retried batch's object, not this one's
        assert rid in mine and mine[rid]["sequence_number"] == sequence, rid
    duplicates = [letter for letter in letters if letter["reason"].startswith("duplicate:")]
    assert all(letter["sequence_number"] not in first_valid.values() for letter in duplicates)

    store = DynamoFeatureStore(clients["dynamodb"], functions.feature_state_table)
    _STATS["state checks"] += _check_state_against_offline(store, _folded(world))
    _STATS["batches"] += 1
    _STATS["records"] += len(sequences)
    _STATS["rows"] += len(row_sequences)
    _STATS["letters"] += len(letters)
    _STATS["reported failures"] += len(failures)


def test_every_record_ends_in_exactly_one_place(emulator, functions):
    clients = {service: emulator.client(service) for service in ("lambda", "dynamodb", "sqs", "s3")}
    modes = st.sampled_from([None, None, None, "dlq", "audit"])  # what is broken for this batch

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # nothing written into the checkout
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(world=batches(), broken=modes)
    def check(world: World, broken: str | None) -> None:
        _check_batch(clients, functions, world, broken)

    check()
    print(f"\nhostile batches: {dict(_STATS)}")
    assert _STATS["batches"] >= EXAMPLES and _STATS["state checks"] > 0
