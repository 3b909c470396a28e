"""Read every message of an SQS queue without consuming it: hold, then hand back.

Messages are received with a visibility timeout, so one pass sees each message once, and made
visible again (ChangeMessageVisibility to 0) when the reader is done with them. Nothing is deleted
unless the caller deletes it. Each pass adds one to a message's ApproximateReceiveCount: a queue
with a redrive policy (maxReceiveCount) would move messages on, so read only queues without one
(the consumer's DLQ and the failure queue have none).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS

_RECEIVE_MAX = 10  # ReceiveMessage's own limit per call


class QueueMissing(LookupError):
    """The queue a DLQ operation reads does not exist (yet): the stream stack was not deployed."""


def queue_url(sqs, name: str) -> str:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise QueueMissing(
            f"queue {name} does not exist: deploy the stream stack first (the stream_stack asset)"
        ) from None


@dataclass
class Held:
    """The messages one pass received, still hidden from other readers until released."""

    messages: list[dict] = field(default_factory=list)
    truncated: bool = False  # stopped at max_messages with more left on the queue


def receive_all(
    sqs, queue_url: str, visibility_timeout_s: int, max_messages: int = 10_000, wait_s: int = 1
) -> Held:
    """Receive until the queue has nothing visible left (a receive that waited `wait_s` came back
    empty) or `max_messages` are held. Every message stays hidden for `visibility_timeout_s`."""
    held = Held()
    while len(held.messages) < max_messages:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(_RECEIVE_MAX, max_messages - len(held.messages)),
            VisibilityTimeout=visibility_timeout_s,
            WaitTimeSeconds=wait_s,
            **RECEIVE_ARGUMENTS,
        ).get("Messages", [])
        if not batch:
            return held
        held.messages += batch
    held.truncated = True
    return held


def release(sqs, queue_url: str, messages: list[dict]) -> int:
    """Make `messages` visible again; returns how many were (one whose hold had already run out, or
    that someone deleted, needs nothing)."""
    released = 0
    for message in messages:
        with contextlib.suppress(ClientError):
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            released += 1
    return released


def delete(sqs, queue_url: str, messages: list[dict]) -> set[str]:
    """Delete held messages; returns the ids of those not deleted."""
    failed: set[str] = set()
    for start in range(0, len(messages), _RECEIVE_MAX):
        chunk = messages[start : start + _RECEIVE_MAX]
        response = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
        )
        failed |= {chunk[int(entry["Id"])]["MessageId"] for entry in response.get("Failed", [])}
    return failed
