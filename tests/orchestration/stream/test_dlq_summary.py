"""orchestration.stream.dlq_summary: the DLQ by reason kind, read without consuming it."""

import json

import pytest

from orchestration.stream.dlq_summary import read_dead_letter_queue, reason_kind


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("not JSON: Expecting value: line 1 column 2 (char 1)", "not JSON"),
        ("not JSON: Expecting ',' delimiter: line 1 column 9 (char 8)", "not JSON"),
        ("schema: field 'amount': must be a number (got 'lots')", "schema: field 'amount'"),
        ("schema: field '<record>': must be a JSON object (got 'list')", "schema: field '<record>'"),
        ("data is not UTF-8 text", "data is not UTF-8 text"),
        ("ModelError: model server said 500", "ModelError"),
        ("batch failure: RetryAttemptsExhausted", "batch failure: RetryAttemptsExhausted"),
        ("batch failure: NotRetained: the stream no longer holds ...", "batch failure: NotRetained"),
    ],
)
def test_a_reason_kind_is_its_stable_prefix(reason, kind):
    assert reason_kind(reason) == kind


def test_the_summary_counts_letters_by_kind_once_per_stream_position_and_leaves_the_queue_as_it_was(
    dlq_world,
):
    world = dlq_world
    not_json = world.letter(1, "{not json")
    world.send(
        not_json,
        not_json,  # sent again when its record was redelivered: one letter, two messages
        world.letter(2, "{also not"),
        world.letter(3, '{"amount": "lots"}', "schema: field 'amount': must be a number (got 'lots')"),
        world.letter(4, '{"amount": "many"}', "schema: field 'amount': must be a number (got 'many')"),
        world.letter(5, "<" + "h" * 400_000, "not JSON: Expecting value: line 1 column 1 (char 0)"),
    )
    sqs = world.client("sqs")
    sqs.send_message(QueueUrl=world.queue_url, MessageBody="hand-written, not a letter")
    assert world.depth() == (7, 0)

    summary = read_dead_letter_queue(sqs, world.client("s3"), world.queue_url, wait_s=0)

    assert (summary.messages, summary.letters, summary.duplicates, summary.claim_checked) == (7, 5, 1, 1)
    rows = {row.kind: row for row in summary.rows}
    assert list(rows) == ["not JSON", "schema: field 'amount'"]  # most letters first
    assert (rows["not JSON"].letters, rows["not JSON"].messages, rows["not JSON"].claim_checked) == (3, 4, 1)
    assert rows["not JSON"].samples == ["{not json", "{also not", "<" + "h" * 79]  # claim check fetched
    assert rows["not JSON"].first_seen <= rows["not JSON"].last_seen
    assert rows["schema: field 'amount'"].letters == 2
    (unreadable,) = summary.unreadable
    assert "body is not JSON" in unreadable and not summary.truncated
    table = summary.markdown()
    assert "| not JSON | 3 | 4 | 1 |" in table and "schema: field 'amount'" in table

    assert world.depth() == (7, 0)  # nothing consumed, nothing left hidden
    again = read_dead_letter_queue(sqs, world.client("s3"), world.queue_url, wait_s=0)
    assert (again.messages, again.letters) == (7, 5)


def test_the_user_records_of_one_aggregate_are_letters_of_their_own(dlq_world):
    world = dlq_world
    world.send(
        world.letter(7, "{a", sub_sequence_number=0),
        world.letter(7, "{b", sub_sequence_number=3),
        world.letter(7, "{b", sub_sequence_number=3),  # its aggregate was redelivered
    )
    summary = read_dead_letter_queue(world.client("sqs"), world.client("s3"), world.queue_url, wait_s=0)
    assert (summary.messages, summary.letters, summary.duplicates) == (3, 2, 1)


def test_an_empty_queue_says_so(dlq_world):
    summary = read_dead_letter_queue(
        dlq_world.client("sqs"), dlq_world.client("s3"), dlq_world.queue_url, wait_s=0
    )
    assert (summary.messages, summary.letters, summary.rows) == (0, 0, [])
    assert summary.markdown() == "The dead-letter queue is empty."


def test_a_scan_stops_at_its_limit_and_says_so(dlq_world):
    dlq_world.send(*(dlq_world.letter(i, json.dumps(i) + "}") for i in range(12)))
    summary = read_dead_letter_queue(
        dlq_world.client("sqs"), dlq_world.client("s3"), dlq_world.queue_url, max_messages=5, wait_s=0
    )
    assert (summary.messages, summary.truncated) == (5, True)
    assert dlq_world.depth() == (12, 0)
