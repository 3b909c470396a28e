"""S3 state and semantics, no HTTP: buckets, objects (bodies on disk), listing with continuation.

A body is written to a file of its own before the object's row points at it, and an overwrite or a
delete unlinks the old file after the row changed. A reader therefore opens the file its row names and,
if that file is already gone (the row changed between the two steps), reads the row again: it gets the
old object or the new one, whole, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from emulator.protocol.errors import AwsError
from emulator.s3.lifecycle import Rule
from emulator.s3.names import check_bucket_name
from emulator.state import Database

MAX_KEY_BYTES = 1024
_DAY = timedelta(days=1)
LIFECYCLE_EVERY_S = 60.0  # how often the housekeeping thread applies lifecycle expiration (AWS seconds)
_OPEN_ATTEMPTS = 100  # rows re-read when overwrites keep replacing the file just named

_SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS s3_lifecycle (bucket TEXT PRIMARY KEY, rules TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    content_type TEXT NOT NULL, modified REAL NOT NULL, file TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
"""


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # hex md5, unquoted
    content_type: str
    modified: datetime
    path: Path
    metadata: dict[str, str] = field(default_factory=dict)  # user metadata (x-amz-meta-*)


@dataclass(frozen=True)
class Listing:
    objects: list[ObjectInfo]
    next_key: str | None  # last key returned when the listing is truncated


def no_such_bucket(bucket: str) -> AwsError:
    return AwsError("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _add_metadata_column(db: Database) -> None:
    """Objects stored before user metadata was kept have none."""
    columns = {row["name"] for row in db.query("PRAGMA table_info(s3_objects)")}
    if "metadata" not in columns:
        db.create_tables("ALTER TABLE s3_objects ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';")


class S3Backend:
    def __init__(self, db: Database, root: Path) -> None:
        self._db = db
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        db.create_tables(_SCHEMA)
        _add_metadata_column(db)

    def create_bucket(self, bucket: str) -> None:
        check_bucket_name(bucket)
        (self._root / bucket).mkdir(exist_ok=True)  # a valid name is a valid folder name
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM s3_buckets WHERE name=?", (bucket,)).fetchone():
                raise AwsError(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    409,
                    BucketName=bucket,
                )
            conn.execute("INSERT INTO s3_buckets VALUES (?, ?)", (bucket, datetime.now(UTC).timestamp()))

    def bucket_exists(self, bucket: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM s3_buckets WHERE name=?", (bucket,)))

    def _require_bucket(self, bucket: str) -> None:
        if not self.bucket_exists(bucket):
            raise no_such_bucket(bucket)

    def put_object(
        self, bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> ObjectInfo:
        self._require_bucket(bucket)
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise AwsError(
                "KeyTooLongError",
                f"Your key is too long: {len(key.encode('utf-8', 'surrogatepass'))} bytes, the limit is "
                f"{MAX_KEY_BYTES}.",
            )
        metadata = dict(metadata or {})
        # Write under a fresh name then swap the row: readers never see a half-written body.
        path = self._root / bucket / uuid.uuid4().hex
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        info = ObjectInfo(
            bucket,
            key,
            len(body),
            hashlib.md5(body).hexdigest(),
            content_type,
            datetime.now(UTC),
            path,
            metadata,
        )
        try:
            with self._db.transaction() as conn:
                old = conn.execute(
                    "SELECT file FROM s3_objects WHERE bucket=? AND key=?", (bucket, key)
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO s3_objects "
                    "(bucket, key, size, etag, content_type, modified, file, metadata) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        bucket,
                        key,
                        info.size,
                        info.etag,
                        content_type,
                        info.modified.timestamp(),
                        path.name,
                        json.dumps(metadata),
                    ),
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if old:
            (self._root / bucket / old["file"]).unlink(missing_ok=True)
        return info

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        self._require_bucket(bucket)
        rows = self._db.query("SELECT * FROM s3_objects WHERE bucket=? AND key=?", (bucket, key))
        if not rows:
            raise AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)
        return self._info(rows[0])

    @contextmanager
    def open_object(self, bucket: str, key: str) -> Iterator[tuple[ObjectInfo, BinaryIO]]:
        """The object's record and its body, open: what an overwrite or delete does next cannot take
        it away (the file stays readable through the open handle). A body file missing although the
        row still names it is damage to the emulator's home, answered as S3 answers its own faults."""
        missing = None
        for _ in range(_OPEN_ATTEMPTS):
            info = self.head_object(bucket, key)
            try:
                handle = info.path.open("rb")
            except FileNotFoundError:  # replaced or deleted since the row was read: read the row again
                if info.path == missing:
                    raise AwsError(
                        "InternalError",
                        f"The stored body of key {key!r} is missing from the emulator's storage.",
                        500,
                    ) from None
                missing = info.path
                continue
            with handle:
                yield info, handle
            return
        raise AwsError("SlowDown", f"Key {key!r} is being overwritten too often to be read; retry.", 503)

    def get_object(self, bucket: str, key: str) -> tuple[ObjectInfo, bytes]:
        with self.open_object(bucket, key) as (info, body):
            return info, body.read()

    def copy_object(
        self, source: tuple[str, str], bucket: str, key: str, replace: tuple[str, dict[str, str]] | None
    ) -> ObjectInfo:
        """CopyObject: the source's body, with its content type and metadata unless `replace` gives new
        ones (x-amz-metadata-directive REPLACE)."""
        info, body = self.get_object(*source)
        content_type, metadata = replace if replace is not None else (info.content_type, info.metadata)
        return self.put_object(bucket, key, body, content_type, metadata)

    def delete_object(self, bucket: str, key: str) -> None:
        """S3 semantics: deleting a missing key succeeds."""
        self._require_bucket(bucket)
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT file FROM s3_objects WHERE bucket=? AND key=?", (bucket, key)
            ).fetchone()
            conn.execute("DELETE FROM s3_objects WHERE bucket=? AND key=?", (bucket, key))
        if row:
            (self._root / bucket / row["file"]).unlink(missing_ok=True)

    def storage(self) -> list[tuple[str, int, int]]:
        """(bucket, bytes stored, objects) of every bucket that holds objects."""
        rows = self._db.query(
            "SELECT bucket, sum(size), count(*) FROM s3_objects GROUP BY bucket ORDER BY bucket"
        )
        return [(row[0], row[1], row[2]) for row in rows]

    def list_objects(self, bucket: str, prefix: str, start_after: str, max_keys: int) -> Listing:
        """Keys with `prefix` strictly after `start_after`, in UTF-8 binary order like S3."""
        self._require_bucket(bucket)
        rows = self._db.query(
            "SELECT * FROM s3_objects WHERE bucket=? AND key > ? AND substr(key, 1, ?) = ? "
            "ORDER BY key LIMIT ?",
            (bucket, start_after, len(prefix), prefix, max_keys + 1),
        )
        objects = [self._info(row) for row in rows[:max_keys]]
        truncated = len(rows) > max_keys
        return Listing(objects, objects[-1].key if truncated and objects else None)

    def put_lifecycle(self, bucket: str, rules: list[Rule]) -> None:
        """Replace the bucket's lifecycle configuration (S3 keeps one, whole)."""
        self._require_bucket(bucket)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO s3_lifecycle VALUES (?, ?)",
                (bucket, json.dumps([rule.to_dict() for rule in rules])),
            )

    def get_lifecycle(self, bucket: str) -> list[Rule]:
        self._require_bucket(bucket)
        rows = self._db.query("SELECT rules FROM s3_lifecycle WHERE bucket=?", (bucket,))
        if not rows:
            raise AwsError(
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
                404,
                BucketName=bucket,
            )
        return [Rule.from_dict(raw) for raw in json.loads(rows[0]["rules"])]

    def delete_lifecycle(self, bucket: str) -> None:
        """S3 semantics: deleting a missing configuration succeeds."""
        self._require_bucket(bucket)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM s3_lifecycle WHERE bucket=?", (bucket,))

    def expire_objects(self, now: datetime | None = None) -> int:
        """Delete the objects an enabled lifecycle rule has expired by `now`; return how many."""
        now = now or datetime.now(UTC)
        expired = []
        for row in self._db.query("SELECT bucket, rules FROM s3_lifecycle"):
            rules = [rule for rule in map(Rule.from_dict, json.loads(row["rules"])) if rule.enabled]
            for rule in rules:
                # written at or before this instant, an object has expired by `now`
                latest = (now - rule.days * _DAY).timestamp()
                candidates = self._db.query(
                    "SELECT key, modified FROM s3_objects WHERE bucket=? AND substr(key, 1, ?) = ? "
                    "AND modified <= ?",
                    (row["bucket"], len(rule.prefix), rule.prefix, latest),
                )
                expired += [
                    (row["bucket"], found["key"])
                    for found in candidates
                    if rule.expires_at(datetime.fromtimestamp(found["modified"], UTC)) <= now
                ]
        for bucket, key in dict.fromkeys(expired):  # one object may match two rules
            self.delete_object(bucket, key)
        return len(set(expired))

    def _info(self, row) -> ObjectInfo:
        return ObjectInfo(
            row["bucket"],
            row["key"],
            row["size"],
            row["etag"],
            row["content_type"],
            datetime.fromtimestamp(row["modified"], UTC),
            self._root / row["bucket"] / row["file"],
            json.loads(row["metadata"]),
        )
