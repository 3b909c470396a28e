"""orchestration.stream.batch_failures: the mapping's failed-batch records turned into dead letters
while the stream holds the records. The failure records are the ones the emulator's event-source
mapping writes (emulator/lambda_/esm/on_failure.py), over records really put on the stream."""

import pytest

from emulator.kinesis.backend import StreamRecord
from emulator.lambda_.esm.kinesis_event import EventRecord
from emulator.lambda_.esm.on_failure import RETRIES_EXHAUSTED, failure_record
from orchestration.stream.batch_failures import (
    BatchFailureConfig,
    BatchFailureUnreadable,
    collect_batch_failures,
    parse_batch_failure,
)
from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS, read_dead_letter
from orchestration.stream.dlq_summary import read_dead_letter_queue
from orchestration.stream.redrive import RedriveConfig, redrive_dead_letters
from serving.kpl import encode_aggregate


def _put(world, payloads: list[bytes]) -> list[dict]:
    kinesis = world.client("kinesis")
    put = []
    for i, data in enumerate(payloads):
        response = kinesis.put_record(StreamName=world.stream, Data=data, PartitionKey=f"K{i}")
        put.append({**response, "Data": data, "PartitionKey": f"K{i}"})
    return put


def _fail(world, put: list[dict], start_sequence: str | None = None, stream_arn: str | None = None) -> None:
    """Send the failure record Lambda writes when it gives up on a batch of the `put` records."""
    records = [
        EventRecord(
            StreamRecord(p["ShardId"], p["SequenceNumber"], p["PartitionKey"], p["Data"], 1767607200.0), ""
        )
        for p in put
    ]
    if start_sequence is not None:  # the batch began at a record the stream no longer holds
        first = records[0].record
        records.insert(0, EventRecord(first._replace(sequence_number=start_sequence), ""))
    body = failure_record(
        records,
        RETRIES_EXHAUSTED,
        "arn:aws:lambda:us-east-1:000000000000:function:f",
        stream_arn or world.stream_arn,
        "request-1",
        6,
        "Unhandled",
    )
    world.client("sqs").send_message(QueueUrl=world.failure_queue_url, MessageBody=body)


def _collect(world, **config):
    return collect_batch_failures(
        world.client("sqs"),
        world.client("kinesis"),
        world.client("s3"),
        world.failure_queue_url,
        world.target,
        BatchFailureConfig(**config),
    )


def test_a_failed_batch_becomes_one_letter_per_record_and_can_be_redriven(dlq_world):
    world = dlq_world
    put = _put(world, [b'{"a": 1}', b"\xff binary", b"x" * 400_000, b'{"b": 2}', b'{"c": 3}'])
    _fail(world, put[1:4])

    report = _collect(world)

    assert (report.failure_records, report.collected, report.records_dead_lettered) == (1, 1, 3)
    assert report.records_not_retained == 0 and world.depth(world.failure_queue_url) == (0, 0)
    summary = read_dead_letter_queue(world.client("sqs"), world.client("s3"), world.queue_url, wait_s=0)
    (row,) = summary.rows
    assert (row.kind, row.letters, row.claim_checked) == ("batch failure: RetryAttemptsExhausted", 3, 1)

    before = {r["SequenceNumber"] for r in world.stream_records()}
    redriven = redrive_dead_letters(
        world.client("sqs"),
        world.client("s3"),
        world.client("kinesis"),
        world.queue_url,
        world.stream,
        RedriveConfig(reason_kinds=["batch failure: RetryAttemptsExhausted"], dry_run=False),
    )
    assert redriven.resent == 3 and world.depth() == (0, 0)
    again = [r for r in world.stream_records() if r["SequenceNumber"] not in before]
    assert sorted((r["Data"], r["PartitionKey"]) for r in again) == sorted(
        (p["Data"], p["PartitionKey"]) for p in put[1:4]
    )


def _letters(world) -> list[dict]:
    sqs, letters = world.client("sqs"), []
    while batch := sqs.receive_message(
        QueueUrl=world.queue_url, MaxNumberOfMessages=10, **RECEIVE_ARGUMENTS
    ).get("Messages"):
        letters += [read_dead_letter(message, world.client("s3")).body for message in batch]
    return letters


def test_a_failed_aggregate_becomes_one_letter_per_user_record(dlq_world):
    world = dlq_world
    users = [("C1", b'{"a": 1}'), ("C2", b"\xff binary"), ("C1", b'{"c": 3}')]
    put = _put(world, [encode_aggregate(users)])
    _fail(world, put)

    assert _collect(world).collected == 1
    letters = sorted(_letters(world), key=lambda letter: letter["sub_sequence_number"])
    assert [(letter["sub_sequence_number"], letter["partition_key"]) for letter in letters] == [
        (0, "C1"),
        (1, "C2"),
        (2, "C1"),
    ]
    assert {letter["sequence_number"] for letter in letters} == {put[0]["SequenceNumber"]}
    assert [letter["payload"] for letter in letters] == ['{"a": 1}', "/yBiaW5hcnk=", '{"c": 3}']


def test_records_the_stream_no_longer_holds_are_said_so_in_the_dlq(dlq_world):
    world = dlq_world
    put = _put(world, [b'{"a": 1}', b'{"b": 2}'])
    trimmed = f"{int(put[0]['SequenceNumber']) - 1:0{len(put[0]['SequenceNumber'])}d}"
    _fail(world, put, start_sequence=trimmed)

    report = _collect(world)

    assert (report.collected, report.records_dead_lettered, report.records_not_retained) == (1, 2, 1)
    assert "no longer holds the batch's first record" in report.batches[0]
    summary = read_dead_letter_queue(world.client("sqs"), world.client("s3"), world.queue_url, wait_s=0)
    rows = {row.kind: row for row in summary.rows}
    assert rows["batch failure: RetryAttemptsExhausted"].letters == 2
    lost = rows["batch failure: NotRetained"]
    assert lost.letters == 1 and lost.samples[0].startswith('{"requestContext"')  # the failure record
    assert world.depth(world.failure_queue_url) == (0, 0)


def test_a_batch_of_a_stream_that_is_gone_is_reported_lost(dlq_world):
    world = dlq_world
    put = _put(world, [b'{"a": 1}'])
    _fail(world, put, stream_arn=world.stream_arn.replace(world.stream, "deleted-stream"))
    report = _collect(world)
    assert (report.collected, report.records_dead_lettered, report.records_not_retained) == (1, 0, 1)
    assert "cannot be read any more (ResourceNotFoundException" in report.batches[0]
    summary = read_dead_letter_queue(world.client("sqs"), world.client("s3"), world.queue_url, wait_s=0)
    assert [row.kind for row in summary.rows] == ["batch failure: NotRetained"]


def test_a_dry_run_reads_the_batches_and_changes_nothing(dlq_world):
    world = dlq_world
    _fail(world, _put(world, [b"{}", b"{}"]))
    report = _collect(world, dry_run=True)
    assert report.failure_records == 1 and report.collected == 0
    assert report.batches == [report.batches[0]] and "2 read back" in report.batches[0]
    assert world.depth(world.failure_queue_url) == (1, 0) and world.depth() == (0, 0)


def test_a_batch_whose_letters_cannot_be_sent_stays_on_the_failure_queue(dlq_world):
    world = dlq_world
    _fail(world, _put(world, [b"y" * 300_000]))
    world.target = type(world.target)(world.queue_url, "no-such-bucket")  # its letter needs the bucket
    report = _collect(world)
    assert (report.collected, report.not_sent) == (0, 1)
    assert world.depth(world.failure_queue_url) == (1, 0)


def test_a_message_that_is_not_a_failure_record_is_named_and_left(dlq_world):
    world = dlq_world
    world.client("sqs").send_message(QueueUrl=world.failure_queue_url, MessageBody='{"hello": 1}')
    report = _collect(world)
    assert report.unreadable and "no 'KinesisBatchInfo'" in report.unreadable[0]
    assert world.depth(world.failure_queue_url) == (1, 0)
    with pytest.raises(BatchFailureUnreadable, match="not JSON"):
        parse_batch_failure("nope")
