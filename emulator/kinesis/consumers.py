"""Enhanced fan-out consumers registered on streams (RegisterStreamConsumer and its siblings).

A consumer is named per stream and gets an ARN `<stream ARN>/consumer/<name>:<creation epoch>`, so
one registered again after deregistration has a new ARN, as on AWS. Its status follows from the clock:
CREATING for TRANSITION_S (AWS time, see emulator.timescale) after registration, then ACTIVE;
DELETING for TRANSITION_S after deregistration, then it is gone. AWS's limits: 20 consumers per
stream, at most 5 CREATING at once in the account.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from emulator.protocol.errors import AwsError, validation_exception
from emulator.state import Database
from emulator.timescale import scaled

MAX_CONSUMERS_PER_STREAM = 20
MAX_CREATING = 5
TRANSITION_S = 1.0  # registration and deregistration take a few seconds on AWS
_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}\Z")
_ARN = re.compile(
    r"arn:aws:kinesis:[a-z0-9-]+:\d{12}:stream/([a-zA-Z0-9_.-]{1,128})/consumer/([a-zA-Z0-9_.-]{1,128}):(\d+)\Z"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS kinesis_consumers (
    stream TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL, deregistered REAL,
    PRIMARY KEY (stream, name)
);
"""


@dataclass
class Consumer:
    stream: str
    stream_arn: str
    name: str
    created: float
    deregistered: float | None = None

    @property
    def arn(self) -> str:
        return f"{self.stream_arn}/consumer/{self.name}:{int(self.created)}"

    def status(self, now: float) -> str:
        if self.deregistered is not None:
            return "DELETING"
        return "CREATING" if now < self.created + scaled(TRANSITION_S) else "ACTIVE"

    def gone(self, now: float) -> bool:
        return self.deregistered is not None and now >= self.deregistered + scaled(TRANSITION_S)

    def summary(self, now: float) -> dict:
        return {
            "ConsumerName": self.name,
            "ConsumerARN": self.arn,
            "ConsumerStatus": self.status(now),
            "ConsumerCreationTimestamp": self.created,
        }


def parse_consumer_arn(arn: str) -> tuple[str, str, int] | None:
    """(stream name, consumer name, creation epoch) of a consumer ARN, or None if it is not one."""
    match = _ARN.match(arn)
    return (match[1], match[2], int(match[3])) if match else None


def _not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", what)


class StreamConsumers:
    """The registry; streams are named by name (the backend resolves ARNs) and ARNs are built by
    `stream_arn(name)`."""

    def __init__(self, db: Database, clock: Callable[[], float], stream_arn: Callable[[str], str]) -> None:
        self._db = db
        self._clock = clock
        self._stream_arn = stream_arn
        self._lock = threading.Lock()
        db.create_tables(SCHEMA)
        self._consumers: dict[tuple[str, str], Consumer] = {
            (row["stream"], row["name"]): Consumer(
                row["stream"], stream_arn(row["stream"]), row["name"], row["created"], row["deregistered"]
            )
            for row in db.query("SELECT * FROM kinesis_consumers")
        }

    def _purge(self, now: float) -> None:
        gone = [key for key, consumer in self._consumers.items() if consumer.gone(now)]
        if gone:
            with self._db.transaction() as conn:
                conn.executemany("DELETE FROM kinesis_consumers WHERE stream=? AND name=?", gone)
            for key in gone:
                del self._consumers[key]

    def register(self, stream: str, name: str) -> dict:
        if not _NAME.match(name or ""):
            raise validation_exception(
                f"1 validation error detected: Value '{name}' at 'consumerName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length 1-128"
            )
        with self._lock:
            now = self._clock()
            self._purge(now)
            if (stream, name) in self._consumers:
                raise AwsError(
                    "ResourceInUseException",
                    f"Consumer {name} under stream {stream} already exists "
                    f"({self._consumers[stream, name].status(now)}).",
                )
            on_stream = sum(key[0] == stream for key in self._consumers)
            if on_stream >= MAX_CONSUMERS_PER_STREAM:
                raise AwsError(
                    "LimitExceededException",
                    f"Stream {stream} already has {on_stream} registered consumers; the limit is "
                    f"{MAX_CONSUMERS_PER_STREAM}.",
                )
            creating = sum(c.status(now) == "CREATING" for c in self._consumers.values())
            if creating >= MAX_CREATING:
                raise AwsError(
                    "LimitExceededException",
                    f"{creating} consumers are already CREATING; at most {MAX_CREATING} can be created "
                    "at the same time.",
                )
            consumer = Consumer(stream, self._stream_arn(stream), name, now)
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO kinesis_consumers VALUES (?, ?, ?, NULL)", (stream, name, consumer.created)
                )
            self._consumers[stream, name] = consumer
            return consumer.summary(now)

    def find(self, stream: str | None, name: str | None, arn: str | None) -> Consumer:
        """The consumer named by its ARN, or by stream and name (DescribeStreamConsumer's two ways)."""
        if arn:
            parsed = parse_consumer_arn(arn)
            if parsed is None:
                raise AwsError("InvalidArgumentException", f"ConsumerARN {arn!r} is not a consumer ARN.")
            stream, name = parsed[0], parsed[1]
        elif not (stream and name):
            raise AwsError(
                "InvalidArgumentException",
                "Either ConsumerARN, or StreamARN and ConsumerName, must be given.",
            )
        with self._lock:
            self._purge(self._clock())
            consumer = self._consumers.get((stream, name))
        if consumer is None or (arn and consumer.arn != arn):
            raise _not_found(f"Consumer {arn or name} under stream {stream} not found.")
        return consumer

    def describe(self, stream: str | None, name: str | None, arn: str | None) -> dict:
        consumer = self.find(stream, name, arn)
        return {**consumer.summary(self._clock()), "StreamARN": consumer.stream_arn}

    def list(self, stream: str) -> list[dict]:
        with self._lock:
            now = self._clock()
            self._purge(now)
            found = [c for key, c in self._consumers.items() if key[0] == stream]
        return [c.summary(now) for c in sorted(found, key=lambda c: c.name)]

    def count(self, stream: str) -> int:
        return len(self.list(stream))

    def deregister(self, stream: str | None, name: str | None, arn: str | None) -> None:
        consumer = self.find(stream, name, arn)
        with self._lock:
            if consumer.deregistered is not None:
                return  # already DELETING
            consumer.deregistered = self._clock()
            with self._db.transaction() as conn:
                conn.execute(
                    "UPDATE kinesis_consumers SET deregistered=? WHERE stream=? AND name=?",
                    (consumer.deregistered, consumer.stream, consumer.name),
                )

    def forget_stream(self, conn, stream: str) -> None:
        """Delete the stream's consumers in the caller's transaction (DeleteStream deletes them)."""
        conn.execute("DELETE FROM kinesis_consumers WHERE stream=?", (stream,))
        with self._lock:
            for key in [key for key in self._consumers if key[0] == stream]:
                del self._consumers[key]
