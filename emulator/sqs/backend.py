"""SQS state and semantics, no HTTP: standard queues, visibility timeouts, retention, redrive to a DLQ.

Interface for other emulated services (Lambda sends failed events to an OnFailure destination):

- `send_message(queue, body, attributes=None, delay_seconds=0) -> dict`: enqueue one message;
  `queue` is a queue name, URL (`http://host:port/000000000000/name`) or ARN
  (`arn:aws:sqs:us-east-1:000000000000:name`); `attributes` are SQS MessageAttributes
  (`{"name": {"DataType": "String", "StringValue": "..."}}`). Returns MessageId, MD5OfMessageBody and,
  with attributes, MD5OfMessageAttributes. Raises AwsError QueueDoesNotExist for an unknown queue.
- `queue_arn(queue) -> str`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.protocol.errors import AwsError
from emulator.sqs.messages import (
    MAX_MESSAGE_BYTES,
    check_attributes,
    check_body,
    invalid_parameter,
    md5_of_attributes,
    md5_of_body,
    message_size,
)
from emulator.state import Database
from emulator.stored_rows import decoded_rows

ACCOUNT = "000000000000"
REGION = "us-east-1"
MAX_RECEIVE = 10
MAX_VISIBILITY_S = 43200
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,80}\Z")
# settable attribute -> (default, minimum, maximum)
_NUMERIC_ATTRIBUTES = {
    "VisibilityTimeout": (30, 0, MAX_VISIBILITY_S),
    "MessageRetentionPeriod": (345600, 60, 1209600),
    "ReceiveMessageWaitTimeSeconds": (0, 0, 20),
    "DelaySeconds": (0, 0, 900),
    "MaximumMessageSize": (MAX_MESSAGE_BYTES, 1024, MAX_MESSAGE_BYTES),
}
_OTHER_ATTRIBUTES = {"RedrivePolicy", "Policy", "RedriveAllowPolicy", "SqsManagedSseEnabled"}
_SYSTEM_ATTRIBUTES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sqs_queues (
    name TEXT PRIMARY KEY, attributes TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sqs_messages (
    queue TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, sent REAL NOT NULL, visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0, first_receive REAL, receipt TEXT,
    PRIMARY KEY (queue, seq)
);
CREATE INDEX IF NOT EXISTS sqs_messages_id ON sqs_messages (queue, id);
"""

_INSERT = (
    "INSERT INTO sqs_messages (queue, seq, id, body, attributes, sent, visible_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, dict]  # MessageAttributes as sent
    sent: float
    receive_count: int
    first_receive: float

    def system_attributes(self) -> dict[str, str]:
        return {
            "SenderId": ACCOUNT,
            "SentTimestamp": str(int(self.sent * 1000)),
            "ApproximateReceiveCount": str(self.receive_count),
            "ApproximateFirstReceiveTimestamp": str(int(self.first_receive * 1000)),
        }


def queue_name(queue: str) -> str:
    """A queue name from a name, a queue URL or a queue ARN."""
    if queue.startswith("arn:"):
        return queue.rsplit(":", 1)[1]
    return queue.rstrip("/").rsplit("/", 1)[-1]


def queue_does_not_exist(queue: str) -> AwsError:
    return AwsError("QueueDoesNotExist", f"The specified queue does not exist: {queue}")


def arn_for(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def _receipt(name: str, message_id: str) -> str:
    return base64.urlsafe_b64encode(f"{name} {message_id} {uuid.uuid4().hex}".encode()).decode()


def _parse_receipt(receipt: str) -> tuple[str, str]:
    try:
        name, message_id, _ = base64.urlsafe_b64decode(receipt.encode()).decode().split(" ")
    except (ValueError, UnicodeDecodeError):
        raise AwsError(
            "ReceiptHandleIsInvalid", f'The input receipt handle "{receipt}" is not a valid receipt handle.'
        ) from None
    return name, message_id


def _check_attributes(attributes: dict[str, str]) -> dict[str, str]:
    checked = {}
    for name, text in attributes.items():
        if name in _NUMERIC_ATTRIBUTES:
            _, low, high = _NUMERIC_ATTRIBUTES[name]
            if not str(text).isdigit() or not low <= int(text) <= high:
                raise AwsError(
                    "InvalidAttributeValue",
                    f"Invalid value for the parameter {name}: {text!r} (allowed {low}-{high})",
                )
            checked[name] = str(int(text))
        elif name == "RedrivePolicy":
            checked[name] = _check_redrive(text)
        elif name in _OTHER_ATTRIBUTES:
            checked[name] = str(text)
        else:
            raise AwsError(
                "InvalidAttributeName",
                f"Unknown or unsupported attribute {name} (FIFO queues are not emulated)",
            )
    return checked


def _check_redrive(text: str) -> str:
    try:
        policy = json.loads(text)
        int(policy["maxReceiveCount"])
        str(policy["deadLetterTargetArn"])
    except (ValueError, KeyError, TypeError):
        raise AwsError(
            "InvalidAttributeValue",
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: it must be JSON with "
            "deadLetterTargetArn and maxReceiveCount.",
        ) from None
    return text


class SqsBackend:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        db.create_tables(_SCHEMA)
        self._queues: dict[str, dict[str, Any]] = decoded_rows(
            db.query("SELECT * FROM sqs_queues"),
            "name",
            lambda row: {
                "attributes": json.loads(row["attributes"]),
                "created": row["created"],
                "modified": row["modified"],
            },
            "queue",
        )
        (row,) = db.query("SELECT coalesce(max(seq), 0) FROM sqs_messages")
        self._seq = row[0]

    # queues

    def _queue(self, queue: str) -> tuple[str, dict[str, Any]]:
        name = queue_name(queue)
        found = self._queues.get(name)
        if found is None:
            raise queue_does_not_exist(queue)
        return name, found

    def _setting(self, queue: dict[str, Any], name: str) -> int:
        return int(queue["attributes"].get(name, _NUMERIC_ATTRIBUTES[name][0]))

    def create_queue(self, name: str, attributes: dict[str, str]) -> str:
        if not _NAME.match(name or ""):
            raise invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length: "
                f"{name!r}"
            )
        checked = _check_attributes(attributes)
        now = self._clock()
        with self._lock, self._db.transaction() as conn:
            existing = self._queues.get(name)
            if existing is not None:
                for key, value in checked.items():
                    if existing["attributes"].get(key, str(_NUMERIC_ATTRIBUTES.get(key, ("",))[0])) != value:
                        raise AwsError(
                            "QueueNameExists",
                            "A queue already exists with the same name and a different value for "
                            f"attribute {key}",
                        )
                return name
            conn.execute("INSERT INTO sqs_queues VALUES (?, ?, ?, ?)", (name, json.dumps(checked), now, now))
            self._queues[name] = {"attributes": checked, "created": now, "modified": now}
        return name

    def delete_queue(self, queue: str) -> None:
        name, _ = self._queue(queue)
        with self._lock, self._db.transaction() as conn:
            conn.execute("DELETE FROM sqs_queues WHERE name=?", (name,))
            conn.execute("DELETE FROM sqs_messages WHERE queue=?", (name,))
            del self._queues[name]

    def purge_queue(self, queue: str) -> None:
        name, _ = self._queue(queue)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM sqs_messages WHERE queue=?", (name,))

    def list_queues(self, prefix: str = "") -> list[str]:
        return sorted(name for name in self._queues if name.startswith(prefix))

    def queue_arn(self, queue: str) -> str:
        return arn_for(self._queue(queue)[0])

    def set_queue_attributes(self, queue: str, attributes: dict[str, str]) -> None:
        name, found = self._queue(queue)
        checked = _check_attributes(attributes)
        with self._db.transaction() as conn:
            found["attributes"].update(checked)
            found["modified"] = self._clock()
            conn.execute(
                "UPDATE sqs_queues SET attributes=?, modified=? WHERE name=?",
                (json.dumps(found["attributes"]), found["modified"], name),
            )

    def get_queue_attributes(self, queue: str, names: list[str]) -> dict[str, str]:
        name, found = self._queue(queue)
        now = self._clock()
        with self._db.transaction() as conn:
            self._expire(conn, name, found)
            counts = conn.execute(
                "SELECT sum(visible_at <= ?), sum(visible_at > ? AND receive_count > 0), "
                "sum(visible_at > ? AND receive_count = 0) FROM sqs_messages WHERE queue=?",
                (now, now, now, name),
            ).fetchone()
        every = {
            **{key: str(default) for key, (default, _, _) in _NUMERIC_ATTRIBUTES.items()},
            **found["attributes"],
            "QueueArn": arn_for(name),
            "ApproximateNumberOfMessages": str(counts[0] or 0),
            "ApproximateNumberOfMessagesNotVisible": str(counts[1] or 0),
            "ApproximateNumberOfMessagesDelayed": str(counts[2] or 0),
            "CreatedTimestamp": str(int(found["created"])),
            "LastModifiedTimestamp": str(int(found["modified"])),
        }
        if "All" in names:
            return every
        unknown = [n for n in names if n not in every and n not in _OTHER_ATTRIBUTES]
        if unknown:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {unknown[0]}.")
        return {n: every[n] for n in names if n in every}

    # messages

    def send_message(
        self,
        queue: str,
        body: str,
        attributes: dict[str, dict] | None = None,
        delay_seconds: int | None = None,
    ) -> dict[str, str]:
        return self.send_messages(queue, [(body, attributes or {}, delay_seconds)])[0]

    def send_messages(
        self, queue: str, entries: list[tuple[str, dict[str, dict], int | None]]
    ) -> list[dict[str, str]]:
        """Validate and enqueue messages in one transaction; raises on the first invalid one."""
        name, found = self._queue(queue)
        limit = self._setting(found, "MaximumMessageSize")
        now = self._clock()
        rows, results = [], []
        for body, attributes, delay in entries:
            check_body(body)
            check_attributes(attributes)
            size = message_size(body, attributes)
            if size > limit:
                raise invalid_parameter(
                    f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes "
                    f"(got {size})."
                )
            delay = self._setting(found, "DelaySeconds") if delay is None else delay
            if not 0 <= delay <= 900:
                raise invalid_parameter(
                    f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be 0-900."
                )
            message_id = str(uuid.uuid4())
            rows.append((name, message_id, body, json.dumps(attributes), now, now + delay))
            result = {"MessageId": message_id, "MD5OfMessageBody": md5_of_body(body)}
            digest = md5_of_attributes(attributes)
            if digest:
                result["MD5OfMessageAttributes"] = digest
            results.append(result)
        with self._lock, self._db.transaction() as conn:
            numbered = []
            for row in rows:
                self._seq += 1
                numbered.append((row[0], self._seq, *row[1:]))
            conn.executemany(
                _INSERT,
                numbered,
            )
        return results

    def receive_messages(
        self, queue: str, max_messages: int = 1, visibility_timeout: int | None = None
    ) -> list[ReceivedMessage]:
        """Make up to `max_messages` visible messages invisible for the timeout and return them."""
        name, found = self._queue(queue)
        if not 1 <= max_messages <= MAX_RECEIVE:
            raise invalid_parameter(
                f"Value {max_messages} for parameter MaxNumberOfMessages is invalid. "
                "Reason: Must be between 1 and "
                f"{MAX_RECEIVE}, if provided."
            )
        timeout = (
            self._setting(found, "VisibilityTimeout") if visibility_timeout is None else visibility_timeout
        )
        if not 0 <= timeout <= MAX_VISIBILITY_S:
            raise invalid_parameter(
                f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: must be 0-43200."
            )
        dead_letter, max_receives = self._redrive(found)
        now = self._clock()
        received: list[ReceivedMessage] = []
        with self._lock, self._db.transaction() as conn:
            self._expire(conn, name, found)
            rows = conn.execute(
                "SELECT * FROM sqs_messages WHERE queue=? AND visible_at <= ? ORDER BY seq LIMIT ?",
                (name, now, max_messages),
            ).fetchall()
            for row in rows:
                if dead_letter and row["receive_count"] >= max_receives:
                    self._move_to_dead_letter(conn, row, dead_letter)
                    continue
                receipt = _receipt(name, row["id"])
                first = row["first_receive"] or now
                conn.execute(
                    "UPDATE sqs_messages SET visible_at=?, receive_count=receive_count+1, first_receive=?, "
                    "receipt=? "
                    "WHERE queue=? AND seq=?",
                    (now + timeout, first, receipt, name, row["seq"]),
                )
                received.append(
                    ReceivedMessage(
                        row["id"],
                        receipt,
                        row["body"],
                        json.loads(row["attributes"]),
                        row["sent"],
                        row["receive_count"] + 1,
                        first,
                    )
                )
        return received

    def _redrive(self, queue: dict[str, Any]) -> tuple[str | None, int]:
        """(dead-letter queue name, maxReceiveCount); no redrive while the target queue does not exist."""
        text = queue["attributes"].get("RedrivePolicy")
        if not text:
            return None, 0
        policy = json.loads(text)
        target = queue_name(policy["deadLetterTargetArn"])
        return (target if target in self._queues else None), int(policy["maxReceiveCount"])

    def _move_to_dead_letter(self, conn: Any, row: Any, target: str) -> None:
        conn.execute("DELETE FROM sqs_messages WHERE queue=? AND seq=?", (row["queue"], row["seq"]))
        self._seq += 1
        conn.execute(
            _INSERT,
            (target, self._seq, row["id"], row["body"], row["attributes"], row["sent"], self._clock()),
        )

    def _expire(self, conn: Any, name: str, queue: dict[str, Any]) -> None:
        """Retention: messages older than MessageRetentionPeriod are gone."""
        cutoff = self._clock() - self._setting(queue, "MessageRetentionPeriod")
        conn.execute("DELETE FROM sqs_messages WHERE queue=? AND sent < ?", (name, cutoff))

    def _in_queue(self, conn: Any, queue: str, receipt: str) -> Any:
        name, found = self._queue(queue)
        receipt_queue, message_id = _parse_receipt(receipt)
        if receipt_queue != name:
            raise AwsError(
                "ReceiptHandleIsInvalid", f'The input receipt handle "{receipt}" is not valid for this queue.'
            )
        return conn.execute(
            "SELECT * FROM sqs_messages WHERE queue=? AND id=?", (name, message_id)
        ).fetchone()

    def delete_message(self, queue: str, receipt: str) -> None:
        """Only the latest receipt handle deletes; an older one succeeds without effect, as on AWS."""
        with self._db.transaction() as conn:
            row = self._in_queue(conn, queue, receipt)
            if row is not None and row["receipt"] == receipt:
                conn.execute("DELETE FROM sqs_messages WHERE queue=? AND seq=?", (row["queue"], row["seq"]))

    def change_visibility(self, queue: str, receipt: str, timeout: int) -> None:
        if not 0 <= timeout <= MAX_VISIBILITY_S:
            raise invalid_parameter(
                f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: must be 0-43200."
            )
        now = self._clock()
        with self._db.transaction() as conn:
            row = self._in_queue(conn, queue, receipt)
            if row is None or row["receipt"] != receipt or row["visible_at"] <= now:
                raise AwsError("MessageNotInflight", "The message referred to isn't in flight.")
            conn.execute(
                "UPDATE sqs_messages SET visible_at=? WHERE queue=? AND seq=?",
                (now + timeout, row["queue"], row["seq"]),
            )
