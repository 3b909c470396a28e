"""orchestration.stream.queue_scan: a pass over a queue holds each message once and hands it back."""

import pytest

from orchestration.stream.queue_scan import QueueMissing, delete, queue_url, receive_all, release


def test_a_pass_holds_every_message_once_and_release_makes_them_visible(dlq_world):
    sqs = dlq_world.client("sqs")
    for i in range(23):
        sqs.send_message(QueueUrl=dlq_world.queue_url, MessageBody=f"m{i}")
    held = receive_all(sqs, dlq_world.queue_url, visibility_timeout_s=60, wait_s=0)
    assert sorted(m["Body"] for m in held.messages) == sorted(f"m{i}" for i in range(23))
    assert not held.truncated and dlq_world.depth() == (0, 23)
    assert held.messages[0]["Attributes"]["ApproximateReceiveCount"] == "1"  # what read_dead_letter reads

    assert delete(sqs, dlq_world.queue_url, held.messages[:3]) == set()
    assert release(sqs, dlq_world.queue_url, held.messages) == 20  # the deleted three need nothing
    assert dlq_world.depth() == (20, 0)


def test_a_pass_stops_at_its_limit_and_a_lapsed_hold_needs_no_release(dlq_world):
    sqs = dlq_world.client("sqs")
    for i in range(5):
        sqs.send_message(QueueUrl=dlq_world.queue_url, MessageBody=f"m{i}")
    held = receive_all(sqs, dlq_world.queue_url, visibility_timeout_s=0, max_messages=3, wait_s=0)
    assert (len(held.messages), held.truncated) == (3, True)
    assert release(sqs, dlq_world.queue_url, held.messages) == 0  # already visible again
    assert dlq_world.depth() == (5, 0)


def test_a_missing_queue_is_named_with_what_to_do(emulator):
    with pytest.raises(
        QueueMissing, match="queue no-such-queue does not exist: deploy the stream stack first"
    ):
        queue_url(emulator.client("sqs"), "no-such-queue")
