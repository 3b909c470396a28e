"""The audit trail: one gzipped JSON Lines object per batch in S3, keyed by the records it holds.

A per-prediction DynamoDB write costs more at 50,000 records/s than the rest of the path; one PutObject
per batch costs next to nothing. The key is a pure function of the batch's first stream position, the
last record it holds and how many: a batch redelivered whole (a crash or timeout after the put, a lost
response) overwrites its own object instead of adding a second one, and a key never comes to hold
records it did not hold before. That matters because readers read each key once: a redelivery that
gathered more records than the first delivery (the shard had more by then) writes a new object, which
they read, rather than growing one they have read already. The records both objects hold are merged by
stream position. Keys sort by time: readers list with StartAfter from a time (`time_key`) or from the
last key they read. Readers (orchestration/stream/audit_log.py) import the key functions from here, so
the consumer and they cannot disagree on the layout.
"""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from serving.consumer.decode import StreamPosition

PREFIX = "predictions/"
CONTENT_TYPE = "application/x-ndjson"
# What every row holds (serving/consumer/pipeline._prediction); a scored row adds the InferenceId and
# row its data capture is filed under.
ROW_FIELDS = (
    "request_id",
    "customer_id",
    "terminal_id",
    "amount",
    "event_ms",
    "arrival_ms",
    "predicted_ms",
    "latency_ms",
    "shard_id",
    "sequence_number",
    "sub_sequence_number",
    "score",
    "decision",
    "threshold",
    "model_version",
    "variant",
    "fallback",
    "fallback_reason",
)
log = logging.getLogger(__name__)


def _partition(arrival_ms: int) -> str:
    at = datetime.fromtimestamp(arrival_ms / 1000, UTC)
    return f"{PREFIX}dt={at:%Y-%m-%d}/hour={at:%H}/"


def batch_prefix(first: StreamPosition) -> str:
    """What the keys of every object of a batch whose first record is at `first` start with."""
    return f"{_partition(first.arrival_ms)}{first.arrival_ms:013d}-{first.shard_id}-{first.sequence_number}-"


def audit_key(first: StreamPosition, last_sequence: str, rows: int) -> str:
    """The object key of the batch whose first record is at `first` and that holds `rows` predictions,
    the last of them at `last_sequence`."""
    return f"{batch_prefix(first)}{last_sequence}-{rows}"


def time_key(at_ms: int) -> str:
    """The lowest key of a batch whose first record arrived at or after `at_ms`: a StartAfter for it."""
    return f"{_partition(at_ms)}{at_ms:013d}"


def key_arrival_ms(key: str) -> int:
    """The first record's arrival time a key carries; a key not of this layout is an error."""
    name = key.rpartition("/")[2]
    digits = name.partition("-")[0]
    if not key.startswith(PREFIX) or len(digits) != 13 or not digits.isdigit():
        raise ValueError(f"{key!r} is not an audit object key ({PREFIX}dt=…/hour=…/<arrival_ms:013d>-…)")
    return int(digits)


def encode_rows(rows: list[dict]) -> bytes:
    lines = "".join(json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n" for row in rows)
    return gzip.compress(lines.encode(), compresslevel=1)  # level 1: a few times smaller, and cheap


def write_batch(s3, bucket: str, first: StreamPosition, predictions: list[dict]) -> bool:
    """Put the batch's predictions as one object; False when it could not be stored (botocore has
    already retried what is worth retrying). No predictions, no object."""
    if not predictions:
        return True
    last = max(predictions, key=lambda p: (int(p["sequence_number"]), p.get("sub_sequence_number", 0)))
    key = audit_key(first, last["sequence_number"], len(predictions))
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=encode_rows(predictions),
            ContentType=CONTENT_TYPE,
            ContentEncoding="gzip",
        )
    except (BotoCoreError, ClientError, ValueError) as error:  # ValueError: a non-finite number
        log.warning(
            "audit object s3://%s/%s (%d predictions) not stored: %s", bucket, key, len(predictions), error
        )
        return False
    return True
