"""S3 state and semantics, no HTTP: buckets, objects (bodies on disk), listing with continuation."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from emulator.protocol.errors import AwsError
from emulator.state import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
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


class S3Backend:
    def __init__(self, db: Database, root: Path) -> None:
        self._db = db
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        db.create_tables(_SCHEMA)

    def create_bucket(self, bucket: str) -> None:
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM s3_buckets WHERE name=?", (bucket,)).fetchone():
                raise AwsError(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    409,
                    BucketName=bucket,
                )
            conn.execute("INSERT INTO s3_buckets VALUES (?, ?)", (bucket, datetime.now(UTC).timestamp()))
        (self._root / bucket).mkdir(exist_ok=True)

    def bucket_exists(self, bucket: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM s3_buckets WHERE name=?", (bucket,)))

    def _require_bucket(self, bucket: str) -> None:
        if not self.bucket_exists(bucket):
            raise no_such_bucket(bucket)

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> ObjectInfo:
        self._require_bucket(bucket)
        # Write under a fresh name then swap the row: readers never see a half-written body.
        path = self._root / bucket / uuid.uuid4().hex
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        info = ObjectInfo(
            bucket, key, len(body), hashlib.md5(body).hexdigest(), content_type, datetime.now(UTC), path
        )
        with self._db.transaction() as conn:
            old = conn.execute(
                "SELECT file FROM s3_objects WHERE bucket=? AND key=?", (bucket, key)
            ).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO s3_objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                (bucket, key, info.size, info.etag, content_type, info.modified.timestamp(), path.name),
            )
        if old:
            (self._root / bucket / old["file"]).unlink(missing_ok=True)
        return info

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        self._require_bucket(bucket)
        rows = self._db.query("SELECT * FROM s3_objects WHERE bucket=? AND key=?", (bucket, key))
        if not rows:
            raise AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)
        return self._info(rows[0])

    def get_object(self, bucket: str, key: str) -> tuple[ObjectInfo, bytes]:
        info = self.head_object(bucket, key)
        return info, info.path.read_bytes()

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

    def _info(self, row) -> ObjectInfo:
        return ObjectInfo(
            row["bucket"],
            row["key"],
            row["size"],
            row["etag"],
            row["content_type"],
            datetime.fromtimestamp(row["modified"], UTC),
            self._root / row["bucket"] / row["file"],
        )
