"""Kinesis state and semantics, no HTTP: streams, shards, records, iterators, retention, write limits.

Interface for other emulated services (the Lambda event-source mapping reads shards through it):

- `list_shards(stream) -> list[ShardInfo]`: the stream's shards in order (`shard_id`, hash range).
- `read_shard(stream, shard_id, after_sequence=None, at="TRIM_HORIZON", limit=100) -> list[StreamRecord]`:
  records of one shard in sequence order, strictly after `after_sequence` when given, otherwise from
  `at` (TRIM_HORIZON: the oldest retained record; LATEST: nothing that is already in the shard).
  Records older than the stream's retention period are never returned.
- `trim_expired() -> int`: delete every record past its stream's retention period (the housekeeping
  thread calls it; Kinesis trims in the background too). Returns how many were deleted.
- `latest_sequence(stream, shard_id) -> str | None`: the newest sequence number in the shard, if any.
- `stream_arn(stream) -> str`.
- `arrival_version(stream, shard_id) -> int` and `wait_for_arrival(stream, shard_id, seen, timeout) -> bool`:
  a count of committed puts per shard and a wait for it to change (enhanced fan-out's push).
- `consumer_stream(consumer_arn) -> str`: the name of the stream a registered consumer reads.

`stream` is a stream name or ARN everywhere. Sequence numbers are 56-digit decimal strings, strictly
increasing within a shard; equal width makes string order the integer order.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from emulator.kinesis.arrivals import ShardArrivals
from emulator.kinesis.consumers import StreamConsumers
from emulator.kinesis.throughput import MIB, ShardThrottle, limits_enabled
from emulator.protocol import json_codec
from emulator.protocol.errors import AwsError, validation_exception
from emulator.state import Database
from emulator.timescale import scaled

ACCOUNT = "000000000000"
HASH_SPACE = 1 << 128
MAX_RECORDS_PER_CALL = 500
MAX_RECORD_BYTES = MIB
MAX_CALL_BYTES = 5 * MIB
MAX_GET_LIMIT = 10000
ITERATOR_TTL_S = 300.0
DEFAULT_RETENTION_HOURS = 24
MAX_RETENTION_HOURS = 8760
ON_DEMAND_SHARDS = 4
_SEQ_WIDTH = 56
_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}\Z")
TRIM_EVERY_S = 60.0  # how often (in AWS time, see emulator.timescale) expired records are deleted
_TRIM_CHUNK = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kinesis_streams (
    name TEXT PRIMARY KEY, mode TEXT NOT NULL, retention_hours INTEGER NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kinesis_shards (
    stream TEXT NOT NULL, idx INTEGER NOT NULL, start_hash TEXT NOT NULL, end_hash TEXT NOT NULL,
    next_counter INTEGER NOT NULL, PRIMARY KEY (stream, idx)
);
CREATE TABLE IF NOT EXISTS kinesis_records (
    stream TEXT NOT NULL, shard_id TEXT NOT NULL, seq TEXT NOT NULL, partition_key TEXT NOT NULL,
    data BLOB NOT NULL, arrival REAL NOT NULL, PRIMARY KEY (stream, shard_id, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ShardInfo:
    shard_id: str
    start_hash: int
    end_hash: int
    first_sequence: str

    def describe(self) -> dict:
        return {
            "ShardId": self.shard_id,
            "HashKeyRange": {"StartingHashKey": str(self.start_hash), "EndingHashKey": str(self.end_hash)},
            "SequenceNumberRange": {"StartingSequenceNumber": self.first_sequence},
        }


class StreamRecord(NamedTuple):  # a tuple: GetRecords builds thousands of these per call
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # epoch seconds (ApproximateArrivalTimestamp)


class PutEntry(NamedTuple):
    data: bytes
    partition_key: str
    explicit_hash_key: str | None = None


@dataclass
class _Stream:
    name: str
    mode: str
    retention_hours: int
    created: float
    shards: list[ShardInfo]
    counters: list[int]  # next sequence counter per shard index
    starts: list[int] = field(default_factory=list)  # shard start hashes, for bisect

    def __post_init__(self) -> None:
        self.starts = [shard.start_hash for shard in self.shards]

    @property
    def arn(self) -> str:
        return stream_arn_for(self.name)


def stream_arn_for(name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{name}"


def shard_id_for(index: int) -> str:
    return f"shardId-{index:012d}"


def sequence_number(shard_index: int, counter: int) -> str:
    """`49` + shard index + per-shard counter: 56 digits like AWS, increasing within the shard."""
    return f"49{shard_index:06d}{counter:048d}"


def hash_ranges(shard_count: int) -> list[tuple[int, int]]:
    """The 128-bit hash key space split evenly, as CreateStream does; the last shard takes the rest."""
    width = HASH_SPACE // shard_count
    starts = [i * width for i in range(shard_count)]
    ends = [start - 1 for start in starts[1:]] + [HASH_SPACE - 1]
    return list(zip(starts, ends, strict=True))


def partition_hash(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def stream_name(stream: str) -> str:
    return stream.rsplit(":stream/", 1)[1] if stream.startswith("arn:") else stream


def _not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Stream {name} under account {ACCOUNT} not found.")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidArgumentException", message)


class KinesisBackend:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._throttle = ShardThrottle(clock, limits_enabled())
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()  # guards sequence counters between allocation and commit
        self._arrivals = ShardArrivals()
        db.create_tables(_SCHEMA)
        self._load()
        self.consumers = StreamConsumers(db, clock, stream_arn_for)

    def _load(self) -> None:
        shards: dict[str, list] = {}
        for row in self._db.query("SELECT * FROM kinesis_shards ORDER BY stream, idx"):
            shards.setdefault(row["stream"], []).append(row)
        for row in self._db.query("SELECT * FROM kinesis_streams"):
            rows = shards.get(row["name"], [])
            self._streams[row["name"]] = _Stream(
                row["name"],
                row["mode"],
                row["retention_hours"],
                row["created"],
                [
                    ShardInfo(
                        shard_id_for(r["idx"]),
                        int(r["start_hash"]),
                        int(r["end_hash"]),
                        sequence_number(r["idx"], 1),
                    )
                    for r in rows
                ],
                [r["next_counter"] for r in rows],
            )

    def _get(self, stream: str) -> _Stream:
        name = stream_name(stream)
        found = self._streams.get(name)
        if found is None:
            raise _not_found(name)
        return found

    def _shard_index(self, stream: _Stream, shard_id: str) -> int:
        for index, shard in enumerate(stream.shards):
            if shard.shard_id == shard_id:
                return index
        raise AwsError(
            "ResourceNotFoundException",
            f"Shard {shard_id} in stream {stream.name} under account {ACCOUNT} does not exist",
        )

    # control plane

    def create_stream(self, name: str, shard_count: int | None, mode: str = "PROVISIONED") -> None:
        if not _NAME.match(name or ""):
            raise validation_exception(
                f"1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length 1-128"
            )
        if mode not in ("PROVISIONED", "ON_DEMAND"):
            raise validation_exception(
                f"StreamModeDetails.StreamMode must be PROVISIONED or ON_DEMAND, got {mode!r}"
            )
        if mode == "ON_DEMAND":
            shard_count = shard_count or ON_DEMAND_SHARDS
        if shard_count is None or shard_count < 1:
            raise _invalid(f"ShardCount must be at least 1 for a PROVISIONED stream, got {shard_count}")
        stream = _Stream(
            name,
            mode,
            DEFAULT_RETENTION_HOURS,
            self._clock(),
            [
                ShardInfo(shard_id_for(i), start, end, sequence_number(i, 1))
                for i, (start, end) in enumerate(hash_ranges(shard_count))
            ],
            [1] * shard_count,
        )
        with self._lock, self._db.transaction() as conn:
            if name in self._streams:
                raise AwsError(
                    "ResourceInUseException", f"Stream {name} under account {ACCOUNT} already exists."
                )
            conn.execute(
                "INSERT INTO kinesis_streams VALUES (?, ?, ?, ?)",
                (name, mode, stream.retention_hours, stream.created),
            )
            conn.executemany(
                "INSERT INTO kinesis_shards VALUES (?, ?, ?, ?, 1)",
                [(name, i, str(s.start_hash), str(s.end_hash)) for i, s in enumerate(stream.shards)],
            )
            self._streams[name] = stream

    def delete_stream(self, stream: str) -> None:
        with self._lock, self._db.transaction() as conn:
            name = self._get(stream).name
            for table, column in (
                ("kinesis_streams", "name"),
                ("kinesis_shards", "stream"),
                ("kinesis_records", "stream"),
            ):
                conn.execute(f"DELETE FROM {table} WHERE {column}=?", (name,))
            self.consumers.forget_stream(conn, name)
            del self._streams[name]
        self._throttle.forget(name)
        self._arrivals.forget(name)

    def list_streams(self) -> list[str]:
        return sorted(self._streams)

    def stream_arn(self, stream: str) -> str:
        return self._get(stream).arn

    def stream_name(self, stream: str) -> str:
        """The name of an existing stream given by name or ARN (ResourceNotFoundException if none)."""
        return self._get(stream).name

    def list_shards(self, stream: str) -> list[ShardInfo]:
        return list(self._get(stream).shards)

    def describe_summary(self, stream: str) -> dict:
        found = self._get(stream)
        return {
            "StreamName": found.name,
            "StreamARN": found.arn,
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": {"StreamMode": found.mode},
            "RetentionPeriodHours": found.retention_hours,
            "StreamCreationTimestamp": found.created,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
            "OpenShardCount": len(found.shards),
            "ConsumerCount": self.consumers.count(found.name),
        }

    def set_retention(self, stream: str, hours: int, increase: bool) -> None:
        found = self._get(stream)
        if not 24 <= hours <= MAX_RETENTION_HOURS:
            raise _invalid(f"RetentionPeriodHours must be between 24 and {MAX_RETENTION_HOURS}, got {hours}")
        if increase and hours < found.retention_hours:
            raise _invalid(
                f"Requested retention period ({hours} hours) for stream {found.name} can not be shorter than "
                f"existing retention period ({found.retention_hours} hours). Use DecreaseRetentionPeriod API."
            )
        if not increase and hours > found.retention_hours:
            raise _invalid(
                f"Requested retention period ({hours} hours) for stream {found.name} can not be longer than "
                f"existing retention period ({found.retention_hours} hours). Use IncreaseRetentionPeriod API."
            )
        with self._db.transaction() as conn:
            conn.execute("UPDATE kinesis_streams SET retention_hours=? WHERE name=?", (hours, found.name))
        found.retention_hours = hours

    # data plane

    def put_records(self, stream: str, entries: Sequence[PutEntry]) -> list[dict]:
        """One result per entry, in order: SequenceNumber/ShardId, or ErrorCode/ErrorMessage if throttled."""
        found = self._get(stream)
        _check_batch(entries)
        targets = [self._target_shard(found, entry) for entry in entries]
        now = self._clock()
        results: list[dict] = []
        rows: list[tuple] = []
        with self._lock, self._db.transaction() as conn:
            for entry, index in zip(entries, targets, strict=True):
                shard_id = found.shards[index].shard_id
                if not self._throttle.admit(
                    found.name, shard_id, len(entry.data) + len(entry.partition_key.encode())
                ):
                    results.append(
                        {
                            "ErrorCode": "ProvisionedThroughputExceededException",
                            "ErrorMessage": f"Rate exceeded for shard {shard_id} in stream {found.name} "
                            f"under account {ACCOUNT}.",
                        }
                    )
                    continue
                seq = sequence_number(index, found.counters[index])
                found.counters[index] += 1
                rows.append((found.name, shard_id, seq, entry.partition_key, entry.data, now))
                results.append({"SequenceNumber": seq, "ShardId": shard_id})
            # one statement for the records and one for the counters: few steps while holding the lock
            if rows:
                conn.execute(
                    "INSERT INTO kinesis_records VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows)),
                    [value for row in rows for value in row],
                )
                touched = sorted(set(targets))
                conn.execute(
                    "UPDATE kinesis_shards SET next_counter = CASE idx "
                    + " ".join(["WHEN ? THEN ?"] * len(touched))
                    + " END WHERE stream=? AND idx IN ("
                    + ", ".join("?" * len(touched))
                    + ")",
                    [*(v for i in touched for v in (i, found.counters[i])), found.name, *touched],
                )
        if rows:
            self._arrivals.signal(found.name, {row[1] for row in rows})
        return results

    def arrival_version(self, stream: str, shard_id: str) -> int:
        return self._arrivals.version(stream_name(stream), shard_id)

    def wait_for_arrival(self, stream: str, shard_id: str, seen: int, timeout: float) -> bool:
        return self._arrivals.wait(stream_name(stream), shard_id, seen, timeout)

    def consumer_stream(self, consumer_arn: str) -> str:
        """The stream a registered (not deregistered) consumer reads; ResourceNotFoundException if none."""
        consumer = self.consumers.find(None, None, consumer_arn)
        if consumer.deregistered is not None:
            raise AwsError("ResourceNotFoundException", f"Consumer {consumer_arn} is being deregistered.")
        return self._get(consumer.stream).name

    def _target_shard(self, stream: _Stream, entry: PutEntry) -> int:
        if entry.explicit_hash_key is None:
            key_hash = partition_hash(entry.partition_key)
        else:
            try:
                key_hash = int(entry.explicit_hash_key)
            except ValueError:
                key_hash = -1
            if not 0 <= key_hash < HASH_SPACE:
                raise _invalid(
                    f"ExplicitHashKey must be a decimal integer in [0, 2^128 - 1], "
                    f"got {entry.explicit_hash_key!r}"
                )
        return bisect.bisect_right(stream.starts, key_hash) - 1

    def _oldest(self, stream: _Stream) -> float:
        """The arrival time before which a record of `stream` has expired (the retention, time-scaled)."""
        return self._clock() - scaled(stream.retention_hours * 3600.0)

    def trim_expired(self) -> int:
        """Delete the expired records of every shard: the prefix (in sequence order) that arrived before
        the retention period. Reads already skip expired records; this bounds what is kept."""
        deleted = 0
        for stream in list(self._streams.values()):
            for shard in stream.shards:
                deleted += self._trim_shard(stream, shard.shard_id)
        return deleted

    def _trim_shard(self, stream: _Stream, shard_id: str) -> int:
        deleted = 0
        while True:
            oldest = self._oldest(stream)
            rows = self._db.query(
                "SELECT seq, arrival FROM kinesis_records WHERE stream=? AND shard_id=? ORDER BY seq LIMIT ?",
                (stream.name, shard_id, _TRIM_CHUNK),
            )
            expired = 0
            while expired < len(rows) and rows[expired]["arrival"] < oldest:
                expired += 1
            if not expired:
                return deleted
            with self._db.transaction() as conn:
                # `arrival < ?` again: never a record that has not expired, whatever changed since the read
                conn.execute(
                    "DELETE FROM kinesis_records WHERE stream=? AND shard_id=? AND seq <= ? AND arrival < ?",
                    (stream.name, shard_id, rows[expired - 1]["seq"], oldest),
                )
            deleted += expired
            if expired < len(rows):
                return deleted

    def latest_sequence(self, stream: str, shard_id: str) -> str | None:
        found = self._get(stream)
        counter = found.counters[self._shard_index(found, shard_id)]
        return sequence_number(self._shard_index(found, shard_id), counter - 1) if counter > 1 else None

    def read_shard(
        self,
        stream: str,
        shard_id: str,
        after_sequence: str | None = None,
        at: str = "TRIM_HORIZON",
        limit: int = 100,
    ) -> list[StreamRecord]:
        found = self._get(stream)
        index = self._shard_index(found, shard_id)
        if after_sequence is None:
            if at not in ("TRIM_HORIZON", "LATEST"):
                raise ValueError(f"at must be TRIM_HORIZON or LATEST, got {at!r}")
            after_sequence = "" if at == "TRIM_HORIZON" else sequence_number(index, found.counters[index] - 1)
        return self._read(found, shard_id, _normalise_sequence(after_sequence), limit)

    def _read(self, stream: _Stream, shard_id: str, after: str, limit: int) -> list[StreamRecord]:
        # One aggregate row instead of one step per record (each step gives up the GIL and waits to get it
        # back); '%!.17g' renders the arrival time exactly.
        (text,) = self._db.query(
            "SELECT json_group_array(json_array(seq, partition_key, hex(data), printf('%!.17g', arrival))) "
            "FROM (SELECT seq, partition_key, data, arrival FROM kinesis_records "
            "WHERE stream=? AND shard_id=? AND seq > ? AND arrival >= ? ORDER BY seq LIMIT ?)",
            (stream.name, shard_id, after, self._oldest(stream), limit),
        )[0]
        rows = sorted(json_codec.loads(text))
        return [
            StreamRecord(shard_id, seq, key, bytes.fromhex(data), float(arrival))
            for seq, key, data, arrival in rows
        ]

    # iterators: opaque tokens carrying (stream, shard, position, issue time)

    def get_shard_iterator(
        self,
        stream: str,
        shard_id: str,
        kind: str,
        sequence: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        found = self._get(stream)
        index = self._shard_index(found, shard_id)
        if kind == "TRIM_HORIZON":
            after = ""
        elif kind == "LATEST":
            after = sequence_number(index, found.counters[index] - 1)
        elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if sequence is None:
                raise _invalid(f"StartingSequenceNumber is required for ShardIteratorType {kind}")
            after = _normalise_sequence(sequence)
            if kind == "AT_SEQUENCE_NUMBER":
                after = f"{int(after) - 1:0{_SEQ_WIDTH}d}"
        elif kind == "AT_TIMESTAMP":
            if timestamp is None:
                raise _invalid("Timestamp is required for ShardIteratorType AT_TIMESTAMP")
            after = self._position_at(found, shard_id, index, timestamp)
        else:
            raise validation_exception(
                f"1 validation error detected: Value '{kind}' at 'shardIteratorType' failed to satisfy "
                "constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
                "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
            )
        return self._iterator(found.name, shard_id, after)

    def _position_at(self, stream: _Stream, shard_id: str, index: int, timestamp: float) -> str:
        rows = self._db.query(
            "SELECT seq FROM kinesis_records WHERE stream=? AND shard_id=? AND arrival >= ? "
            "ORDER BY seq LIMIT 1",
            (stream.name, shard_id, timestamp),
        )
        if rows:
            return f"{int(rows[0]['seq']) - 1:0{_SEQ_WIDTH}d}"
        return sequence_number(index, stream.counters[index] - 1)

    def _iterator(self, stream: str, shard_id: str, after: str) -> str:
        payload = json.dumps([stream, shard_id, after, self._clock()]).encode()
        return base64.urlsafe_b64encode(payload).decode()

    def get_records(self, iterator: str, limit: int = MAX_GET_LIMIT) -> dict:
        """GetRecords: records after the iterator's position, the next iterator, MillisBehindLatest."""
        if not 1 <= limit <= MAX_GET_LIMIT:
            raise _invalid(f"Limit must be between 1 and {MAX_GET_LIMIT}, got {limit}")
        try:
            stream, shard_id, after, issued = json.loads(base64.urlsafe_b64decode(iterator.encode()))
        except (ValueError, TypeError):
            raise _invalid(f"Invalid ShardIterator: {iterator[:64]!r}") from None
        now = self._clock()
        if now - issued > ITERATOR_TTL_S:
            raise AwsError(
                "ExpiredIteratorException",
                f"Iterator expired. The iterator was created at time {issued:.3f} while right now it is "
                f"{now:.3f} "
                f"which is further in the future than the tolerated delay of {int(ITERATOR_TTL_S * 1000)} "
                "milliseconds.",
            )
        found = self._get(stream)
        self._shard_index(found, shard_id)
        records = self._read(found, shard_id, after, limit + 1)  # one extra tells whether we are caught up
        behind = int(max(0.0, now - records[limit].arrival) * 1000) if len(records) > limit else 0
        records = records[:limit]
        position = records[-1].sequence_number if records else after
        return {
            "Records": records,
            "NextShardIterator": self._iterator(found.name, shard_id, position),
            "MillisBehindLatest": behind,
        }


def _check_batch(entries: Sequence[PutEntry]) -> None:
    if not 1 <= len(entries) <= MAX_RECORDS_PER_CALL:
        raise validation_exception(
            f"1 validation error detected: Value '{len(entries)} records' at 'records' failed to satisfy "
            f"constraint: Member must have length between 1 and {MAX_RECORDS_PER_CALL}"
        )
    total = 0
    for position, entry in enumerate(entries):
        if not 1 <= len(entry.partition_key) <= 256:
            raise validation_exception(
                f"PartitionKey of record {position} must be 1-256 characters, got {len(entry.partition_key)}"
            )
        size = len(entry.data) + len(entry.partition_key.encode())
        if size > MAX_RECORD_BYTES:
            raise _invalid(
                f"Record {position} is {size} bytes including its partition key; "
                f"the limit is {MAX_RECORD_BYTES}"
            )
        total += size
    if total > MAX_CALL_BYTES:
        raise _invalid(f"Records size exceeds 5 MB limit: the request carries {total} bytes")


def _normalise_sequence(sequence: str) -> str:
    if sequence == "":
        return ""
    if not sequence.isdigit() or len(sequence) > _SEQ_WIDTH:
        raise _invalid(f"StartingSequenceNumber {sequence!r} is not a valid sequence number")
    return sequence.zfill(_SEQ_WIDTH)
