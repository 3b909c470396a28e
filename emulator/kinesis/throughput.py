"""Per-shard write limits (1 MiB/s and 1000 records/s) as token buckets, like Kinesis enforces them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1024 * 1024
RECORDS_PER_S = 1000
BYTES_PER_S = MIB
ENV_VAR = "RTINFER_KINESIS_SHARD_LIMITS"


def limits_enabled() -> bool:
    value = os.environ.get(ENV_VAR, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{ENV_VAR} must be 'on' or 'off', got {value!r}")
    return value == "on"


@dataclass
class _Bucket:
    records: float
    bytes: float
    updated: float


class ShardThrottle:
    """A bucket per shard holding one second's worth of capacity, refilled continuously."""

    def __init__(self, clock: Callable[[], float], enabled: bool = True) -> None:
        self._clock = clock
        self._enabled = enabled
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, stream: str, shard: str, size: int) -> bool:
        """Take capacity for one record of `size` bytes; False if the shard is over its limit."""
        if not self._enabled:
            return True
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get((stream, shard))
            if bucket is None:
                bucket = self._buckets[(stream, shard)] = _Bucket(RECORDS_PER_S, BYTES_PER_S, now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.records = min(RECORDS_PER_S, bucket.records + elapsed * RECORDS_PER_S)
            bucket.bytes = min(BYTES_PER_S, bucket.bytes + elapsed * BYTES_PER_S)
            bucket.updated = now
            if bucket.records < 1 or bucket.bytes < size:
                return False
            bucket.records -= 1
            bucket.bytes -= size
            return True

    def forget(self, stream: str) -> None:
        with self._lock:
            for key in [k for k in self._buckets if k[0] == stream]:
                del self._buckets[key]
