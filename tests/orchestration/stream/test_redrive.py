"""orchestration.stream.redrive: chosen letters back onto the input stream, deleted only once they are."""

import base64

import pytest
from pydantic import ValidationError

from orchestration.stream.dlq_summary import read_dead_letter_queue
from orchestration.stream.redrive import RedriveConfig, redrive_dead_letters

SCHEMA = "schema: field 'amount': must be a number (got 'lots')"


def _redrive(world, stream: str | None = None, **config):
    return redrive_dead_letters(
        world.client("sqs"),
        world.client("s3"),
        world.client("kinesis"),
        world.queue_url,
        stream or world.stream,
        RedriveConfig(**config),
    )


@pytest.fixture
def queue(dlq_world):
    """Two schema letters (one sent twice, one claim-checked), a binary one and a not-JSON one."""
    world = dlq_world
    schema = world.letter(1, '{"amount": "lots"}', SCHEMA)
    big = world.letter(2, '{"amount": "' + "9" * 300_000 + '"}', SCHEMA)
    binary = world.letter(3, base64.b64encode(b"\xff\xfe raw").decode(), "data is not UTF-8 text")
    world.send(schema, schema, big, binary, world.letter(4, "{nope"))
    return world, {"schema": schema, "big": big, "binary": binary}


def test_a_dry_run_reports_and_changes_nothing(queue):
    world, _ = queue
    report = _redrive(world, reason_kinds=["schema: field 'amount'"])
    assert report.dry_run and (report.letters, report.selected, report.resendable, report.resent) == (
        4,
        2,
        2,
        0,
    )
    assert report.left == 4 and world.stream_records() == []
    assert world.depth() == (5, 0)


def test_letters_of_a_kind_go_back_with_their_payload_and_key_and_only_they_are_deleted(queue):
    world, letters = queue
    report = _redrive(world, reason_kinds=["schema: field 'amount'"], dry_run=False)

    assert (report.selected, report.resent, report.failed, report.left) == (2, 2, {}, 2)
    assert report.duplicates_deleted == 1 and report.not_deleted == []
    records = sorted(world.stream_records(), key=lambda r: len(r["Data"]))
    assert [(r["Data"].decode(), r["PartitionKey"]) for r in records] == [
        (letters["schema"]["payload"], letters["schema"]["partition_key"]),
        (letters["big"]["payload"], letters["big"]["partition_key"]),
    ]
    assert world.depth() == (2, 0)  # the other two letters are visible again
    left = read_dead_letter_queue(world.client("sqs"), world.client("s3"), world.queue_url, wait_s=0)
    assert {row.kind for row in left.rows} == {"data is not UTF-8 text", "not JSON"}
    objects = world.client("s3").list_objects_v2(Bucket=world.target.bucket)
    assert objects["KeyCount"] == 0  # the claim-checked body went with its letter


def test_letters_chosen_by_sequence_number_or_message_id_go_back_as_the_bytes_they_were(queue):
    world, letters = queue
    summary_ids = {
        message["MessageId"]
        for message in world.client("sqs").receive_message(
            QueueUrl=world.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )["Messages"]
        if "{nope" in message["Body"]
    }
    report = _redrive(
        world,
        sequence_numbers=[letters["binary"]["sequence_number"]],
        message_ids=sorted(summary_ids),
        dry_run=False,
    )
    assert (report.selected, report.resent) == (2, 2)
    assert sorted(r["Data"] for r in world.stream_records()) == sorted([b"\xff\xfe raw", b"{nope"])
    assert world.depth() == (3, 0)


def test_when_the_stream_refuses_nothing_is_deleted(queue):
    world, _ = queue
    report = _redrive(world, stream="no-such-stream", all_letters=True, dry_run=False)
    assert (report.selected, report.resent, report.left) == (4, 0, 4)
    # the letters name their own stream, so none is sent elsewhere
    assert set(report.failed.values()) == {
        f"the letter came from stream {world.stream!r}, not 'no-such-stream'"
    }
    assert world.depth() == (5, 0)


def test_a_letter_put_fails_for_stays_on_the_queue(dlq_world):
    world = dlq_world
    world.send(world.letter(7, "{x", event_source_arn=""))  # no stream named: it goes where asked
    report = _redrive(world, stream="no-such-stream", all_letters=True, dry_run=False)
    assert report.failed == {f"{7:056d}": "PutRecords did not take it"} and report.resent == 0
    assert world.depth() == (1, 0)


def test_a_letter_without_a_payload_is_not_redriven(dlq_world):
    world = dlq_world
    world.send(world.letter(8, "{}", "batch failure: NotRetained: gone", redrivable=False))
    report = _redrive(world, all_letters=True, dry_run=False)
    assert report.resent == 0 and "no payload to re-send" in report.failed[f"{8:056d}"]
    assert world.depth() == (1, 0)


def test_a_redrive_must_say_which_letters():
    with pytest.raises(ValidationError, match="choose which letters to re-send"):
        RedriveConfig()
    with pytest.raises(ValidationError, match="visibility_timeout_s"):
        RedriveConfig(all_letters=True, visibility_timeout_s=5)
