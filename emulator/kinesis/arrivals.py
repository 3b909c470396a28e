"""A wake-up signal per shard: how many puts have committed to it, and a condition to wait on that.

Enhanced fan-out pushes records to a subscriber as they arrive; the event-source mapping's reader of
such a consumer waits here instead of sleeping a poll interval. A reader takes `version` before it
reads, so a put that commits between its read and its wait is never missed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class ShardArrivals:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._versions: dict[tuple[str, str], int] = {}

    def version(self, stream: str, shard_id: str) -> int:
        with self._changed:
            return self._versions.get((stream, shard_id), 0)

    def signal(self, stream: str, shard_ids: Iterable[str]) -> None:
        """Records were committed to these shards of `stream`."""
        with self._changed:
            for shard_id in shard_ids:
                key = (stream, shard_id)
                self._versions[key] = self._versions.get(key, 0) + 1
            self._changed.notify_all()

    def wait(self, stream: str, shard_id: str, seen: int, timeout: float) -> bool:
        """Whether a put committed to the shard after version `seen`, waiting up to `timeout` s for one."""
        with self._changed:
            return self._changed.wait_for(lambda: self._versions.get((stream, shard_id), 0) != seen, timeout)

    def forget(self, stream: str) -> None:
        with self._changed:
            for key in [key for key in self._versions if key[0] == stream]:
                del self._versions[key]
            self._changed.notify_all()
