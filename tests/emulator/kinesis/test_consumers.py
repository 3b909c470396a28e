"""Enhanced fan-out consumers through real boto3: Register/Describe/List/DeregisterStreamConsumer, their
ARNs, CREATING → ACTIVE, AWS's errors and limits, persistence, and DeleteStream taking them along."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import control
from emulator.kinesis.backend import KinesisBackend, PutEntry, partition_hash
from emulator.kinesis.consumers import MAX_CONSUMERS_PER_STREAM, MAX_CREATING, TRANSITION_S
from emulator.protocol.errors import AwsError
from emulator.state import Database

WAIT_S = 30.0  # generous: a loaded machine


@pytest.fixture(scope="module")
def kinesis(emulator):
    return emulator.client("kinesis")


@pytest.fixture
def stream_arn(kinesis) -> str:
    name = f"c-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def _wait_status(kinesis, arn: str, status: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while True:
        description = kinesis.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
        if description["ConsumerStatus"] == status or time.monotonic() > deadline:
            return description
        time.sleep(0.05)


def test_register_describe_list_deregister(kinesis, stream_arn):
    registered = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="fraud-efo")["Consumer"]
    arn = registered["ConsumerARN"]
    epoch = int(registered["ConsumerCreationTimestamp"].timestamp())
    assert arn == f"{stream_arn}/consumer/fraud-efo:{epoch}"
    assert re.fullmatch(r"arn:aws:kinesis:us-east-1:\d{12}:stream/[\w.-]+/consumer/fraud-efo:\d+", arn)
    assert registered["ConsumerStatus"] == "CREATING"

    active = _wait_status(kinesis, arn, "ACTIVE")
    assert active["ConsumerStatus"] == "ACTIVE"
    assert active["StreamARN"] == stream_arn
    by_name = kinesis.describe_stream_consumer(StreamARN=stream_arn, ConsumerName="fraud-efo")
    assert by_name["ConsumerDescription"] == active
    summary = kinesis.describe_stream_summary(StreamARN=stream_arn)["StreamDescriptionSummary"]
    assert summary["ConsumerCount"] == 1

    kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="audit")
    listed = kinesis.list_stream_consumers(StreamARN=stream_arn)["Consumers"]
    assert [c["ConsumerName"] for c in listed] == ["audit", "fraud-efo"]
    first = kinesis.list_stream_consumers(StreamARN=stream_arn, MaxResults=1)
    assert [c["ConsumerName"] for c in first["Consumers"]] == ["audit"]
    rest = kinesis.list_stream_consumers(StreamARN=stream_arn, NextToken=first["NextToken"])
    assert [c["ConsumerName"] for c in rest["Consumers"]] == ["fraud-efo"] and "NextToken" not in rest

    kinesis.deregister_stream_consumer(ConsumerARN=arn)
    kinesis.deregister_stream_consumer(ConsumerARN=arn)  # again while DELETING: nothing changes
    deadline = time.monotonic() + WAIT_S
    while not _gone(kinesis, arn) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(kinesis, arn)
    kinesis.deregister_stream_consumer(StreamARN=stream_arn, ConsumerName="audit")

    # registered again under the same name, it is a new consumer: a new ARN once a second has passed
    again = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="fraud-efo")["Consumer"]
    assert again["ConsumerCreationTimestamp"] > registered["ConsumerCreationTimestamp"]


def _gone(kinesis, arn: str) -> bool:
    try:
        kinesis.describe_stream_consumer(ConsumerARN=arn)
    except kinesis.exceptions.ResourceNotFoundException:
        return True
    return False


def test_consumer_errors(kinesis, stream_arn):
    arn = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="once")["Consumer"][
        "ConsumerARN"
    ]
    with pytest.raises(kinesis.exceptions.ResourceInUseException, match="once"):
        kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="once")
    missing_stream = stream_arn.rsplit("/", 1)[0] + "/no-such-stream"
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException, match="no-such-stream"):
        kinesis.register_stream_consumer(StreamARN=missing_stream, ConsumerName="x")
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.list_stream_consumers(StreamARN=missing_stream)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException, match="other"):
        kinesis.describe_stream_consumer(StreamARN=stream_arn, ConsumerName="other")
    # an ARN of the right form whose epoch is not this consumer's names no consumer
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_stream_consumer(ConsumerARN=arn.rsplit(":", 1)[0] + ":1")
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.deregister_stream_consumer(StreamARN=stream_arn, ConsumerName="other")
    with pytest.raises(kinesis.exceptions.InvalidArgumentException, match="ConsumerARN"):
        kinesis.describe_stream_consumer(StreamARN=stream_arn)
    with pytest.raises(kinesis.exceptions.InvalidArgumentException, match="ConsumerARN"):
        kinesis.deregister_stream_consumer(ConsumerName="once")
    # botocore checks the name's length client-side; the pattern is the service's to refuse
    with pytest.raises(kinesis.exceptions.ClientError, match="consumerName"):
        kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="has space")


def test_deleting_the_stream_deletes_its_consumers(kinesis, stream_arn):
    arn = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="c")["Consumer"]["ConsumerARN"]
    name = stream_arn.rsplit("/", 1)[1]
    kinesis.delete_stream(StreamName=name)
    assert _gone(kinesis, arn)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    assert kinesis.list_stream_consumers(StreamARN=stream_arn)["Consumers"] == []


def test_consumers_survive_a_restart(tmp_path, emulator_factory):
    first = emulator_factory(tmp_path / "home")
    kinesis = first.client("kinesis")
    kinesis.create_stream(StreamName="kept", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="kept")["StreamDescriptionSummary"]["StreamARN"]
    registered = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName="efo")["Consumer"]
    assert control.stop(first.home)
    kinesis = emulator_factory(first.home).client("kinesis")
    described = _wait_status(kinesis, registered["ConsumerARN"], "ACTIVE")
    assert described["ConsumerARN"] == registered["ConsumerARN"]
    assert described["ConsumerCreationTimestamp"] == registered["ConsumerCreationTimestamp"]
    assert (
        kinesis.describe_stream_summary(StreamName="kept")["StreamDescriptionSummary"]["ConsumerCount"] == 1
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def backend(tmp_path):
    clock = Clock()
    db = Database(tmp_path / "state.db")
    yield KinesisBackend(db, clock), clock
    db.close()


def test_limits_twenty_per_stream_and_five_creating_at_once(backend):
    kinesis, clock = backend
    kinesis.create_stream("s", 1)
    kinesis.create_stream("t", 1)
    for i in range(MAX_CREATING):
        assert kinesis.consumers.register("s", f"c{i}")["ConsumerStatus"] == "CREATING"
    with pytest.raises(AwsError) as refused:
        kinesis.consumers.register("t", "sixth")  # the CREATING limit is the account's, not the stream's
    assert refused.value.code == "LimitExceededException"
    while len(kinesis.consumers.list("s")) < MAX_CONSUMERS_PER_STREAM:
        clock.now += TRANSITION_S  # the earlier ones are ACTIVE now
        for _ in range(min(MAX_CREATING, MAX_CONSUMERS_PER_STREAM - len(kinesis.consumers.list("s")))):
            kinesis.consumers.register("s", f"c{len(kinesis.consumers.list('s'))}")
    clock.now += TRANSITION_S
    with pytest.raises(AwsError) as refused:
        kinesis.consumers.register("s", "twenty-first")
    assert refused.value.code == "LimitExceededException" and "20" in refused.value.message
    kinesis.consumers.register("t", "other-stream")  # the other stream has room

    # a deregistered consumer holds its place (and its name) while DELETING, then frees both
    kinesis.consumers.deregister("s", "c0", None)
    assert kinesis.consumers.describe("s", "c0", None)["ConsumerStatus"] == "DELETING"
    with pytest.raises(AwsError) as refused:
        kinesis.consumers.register("s", "c0")
    assert refused.value.code == "ResourceInUseException"
    clock.now += TRANSITION_S
    assert len(kinesis.consumers.list("s")) == MAX_CONSUMERS_PER_STREAM - 1
    assert kinesis.consumers.register("s", "c0")["ConsumerStatus"] == "CREATING"


def test_a_put_wakes_a_waiting_reader_of_the_shard(backend):
    kinesis, _ = backend
    kinesis.create_stream("w", 2)
    shard = kinesis.list_shards("w")[0].shard_id
    seen = kinesis.arrival_version("w", shard)
    assert not kinesis.wait_for_arrival("w", shard, seen, 0.01)
    key = next(k for k in map(str, range(100)) if partition_hash(k) <= kinesis.list_shards("w")[0].end_hash)
    kinesis.put_records("w", [PutEntry(b"x", key)])
    assert kinesis.wait_for_arrival("w", shard, seen, 0.0)
    other = kinesis.list_shards("w")[1].shard_id
    assert not kinesis.wait_for_arrival("w", other, kinesis.arrival_version("w", other), 0.01)


_OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["register", "deregister", "wait"]),
        st.sampled_from(["s", "t"]),
        st.integers(0, 24),  # consumer names: more than a stream can hold
        st.floats(0, 2 * TRANSITION_S),
    ),
    max_size=80,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=_OPERATIONS)
def test_the_registry_keeps_aws_limits_and_answers_as_a_model_of_it(tmp_path_factory, operations):
    """Any sequence of registrations, deregistrations and waits: the registry refuses exactly what AWS
    would (a name in use, a 21st consumer, a 6th CREATING), lists exactly the consumers a simple model
    holds, and every ARN names its stream, its consumer and its creation second."""
    clock = Clock()
    db = Database(tmp_path_factory.mktemp("registry") / "state.db")
    try:
        kinesis = KinesisBackend(db, clock)
        kinesis.create_stream("s", 1)
        kinesis.create_stream("t", 1)
        model: dict[tuple[str, str], dict] = {}  # (stream, name) -> {"created", "deregistered"}

        def status(entry: dict) -> str:
            if entry["deregistered"] is not None:
                return "DELETING"
            return "CREATING" if clock.now < entry["created"] + TRANSITION_S else "ACTIVE"

        def prune() -> None:
            for key in [k for k, e in model.items() if e["deregistered"] is not None]:
                if clock.now >= model[key]["deregistered"] + TRANSITION_S:
                    del model[key]

        for action, stream, number, wait in operations:
            name = f"c{number}"
            prune()
            if action == "wait":
                clock.now += wait
                continue
            if action == "register":
                on_stream = sum(key[0] == stream for key in model)
                creating = sum(status(e) == "CREATING" for e in model.values())
                expected = (
                    "ResourceInUseException"
                    if (stream, name) in model
                    else "LimitExceededException"
                    if on_stream >= MAX_CONSUMERS_PER_STREAM or creating >= MAX_CREATING
                    else None
                )
                try:
                    kinesis.consumers.register(stream, name)
                    assert expected is None
                    model[stream, name] = {"created": clock.now, "deregistered": None}
                except AwsError as refused:
                    assert refused.code == expected
            else:
                try:
                    kinesis.consumers.deregister(stream, name, None)
                    assert (stream, name) in model
                    if model[stream, name]["deregistered"] is None:
                        model[stream, name]["deregistered"] = clock.now
                except AwsError as refused:
                    assert refused.code == "ResourceNotFoundException" and (stream, name) not in model
            for each in ("s", "t"):
                listed = kinesis.consumers.list(each)
                assert [c["ConsumerName"] for c in listed] == sorted(n for s_, n in model if s_ == each)
                assert len(listed) <= MAX_CONSUMERS_PER_STREAM
                for consumer in listed:
                    entry = model[each, consumer["ConsumerName"]]
                    assert consumer["ConsumerStatus"] == status(entry)
                    assert consumer["ConsumerARN"] == (
                        f"{kinesis.stream_arn(each)}/consumer/{consumer['ConsumerName']}:{int(entry['created'])}"
                    )
                assert kinesis.describe_summary(each)["ConsumerCount"] == len(listed)
    finally:
        db.close()
