"""Read the audit trail: the consumer's batch objects in S3 (serving/consumer/audit.py), incrementally.

Keys sort by the time their batch's first record arrived, so a reader lists from a key (StartAfter: the
last key it read, or `time_key(t)` for "since t") and never lists the whole bucket.

Rows come back de-duplicated by stream position (shard_id, sequence_number): a record is in one object
except when a timed-out invocation's late put and its retry's both land, and then both rows are the
same record. A producer that resent a request (a lost PutRecords response) put it in the stream twice,
at two positions, and so it has two predictions: readers that need one row per request
(`unique_requests`, for the outcomes join) keep the first in key order.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from serving.consumer.audit import PREFIX, time_key

# Objects are small and reads wait on the network: fetch several at once.
_READERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="audit-read")
_GZIP_MAGIC = b"\x1f\x8b"


class AuditObjectError(ValueError):
    """An object under the audit prefix is not gzipped JSON Lines of predictions; names the key."""


def list_keys(s3, bucket: str, start_after: str | None = None) -> list[str]:
    """Audit object keys after `start_after` (all of them without it), in key (= time) order."""
    keys, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": PREFIX, **({"StartAfter": start_after} if start_after else {})}
        page = s3.list_objects_v2(**kwargs, **({"ContinuationToken": token} if token else {}))
        keys += [entry["Key"] for entry in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def keys_since(s3, bucket: str, since_ms: int) -> list[str]:
    """Keys of the batches whose first record arrived at or after `since_ms`."""
    return list_keys(s3, bucket, time_key(max(0, since_ms)))


def decode_object(key: str, body: bytes) -> list[dict]:
    # botocore hands the stored bytes over as they are (Content-Encoding is not undone by it), but a
    # proxy may have; both read the same.
    try:
        text = (gzip.decompress(body) if body.startswith(_GZIP_MAGIC) else body).decode("utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AuditObjectError(f"audit object {key!r} is not gzipped JSON Lines: {error}") from error
    for row in rows:
        if not isinstance(row, dict) or not {"shard_id", "sequence_number", "request_id"} <= row.keys():
            raise AuditObjectError(f"audit object {key!r} holds a row that is not a prediction: {row!r:.200}")
    return rows


def read_object(s3, bucket: str, key: str) -> list[dict]:
    return decode_object(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def read_objects(s3, bucket: str, keys: list[str]) -> dict[str, list[dict]]:
    """Each key's rows, read side by side."""
    return dict(zip(keys, _READERS.map(lambda key: read_object(s3, bucket, key), keys), strict=True))


def position(row: dict) -> tuple[str, str, int]:
    """Where a row's record was in the stream: user records of one KPL aggregate share its sequence
    number and differ by sub-sequence number (0 for a plain record)."""
    return row["shard_id"], row["sequence_number"], row.get("sub_sequence_number", 0)


def _first_of_each(items: Iterable, identity: Callable) -> list:
    seen: set = set()
    first = []
    for item in items:
        key = identity(item)
        if key not in seen:
            seen.add(key)
            first.append(item)
    return first


def unique_positions(rows: Iterable[dict]) -> list[dict]:
    """The rows with one row per stream position, the first one met."""
    return _first_of_each(rows, position)


def unique_requests(rows: Iterable[dict]) -> list[dict]:
    """The rows with one row per request id, the first one met (a resent request's first prediction)."""
    return _first_of_each(rows, lambda row: row["request_id"])


def unique_requests_keyed(keyed: Iterable[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """(key, row) pairs with one per request id, the first in key order."""
    return _first_of_each(keyed, lambda key_row: key_row[1]["request_id"])


class AuditReader:
    """Reads objects once: a reader that polls (accounting) or ticks keeps one, and each look lists
    from where it started and fetches only the keys it has not read yet. That is sound because a key
    never comes to hold records it did not hold (serving/consumer/audit.py): an object rewritten by a
    redelivered batch holds the same records' predictions, and a redelivery that gathered more records
    writes a new key; the position de-duplication merges the records both hold."""

    def __init__(self, s3, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket
        self._rows: dict[str, list[dict]] = {}

    def rows_after(self, start_after: str | None) -> list[tuple[str, dict]]:
        """(key, row) of every object after `start_after`, in key order, unique by stream position."""
        keys = list_keys(self.s3, self.bucket, start_after)
        self._rows.update(read_objects(self.s3, self.bucket, [k for k in keys if k not in self._rows]))
        keyed = [(key, row) for key in keys for row in self._rows[key]]
        return _first_of_each(keyed, lambda key_row: position(key_row[1]))

    def rows_since(self, since_ms: int) -> list[dict]:
        return [row for _, row in self.rows_after(time_key(max(0, since_ms)))]
