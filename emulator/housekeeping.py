"""What AWS does in the background to keep state bounded, run here in one thread: periodic jobs such as
trimming Kinesis records past their retention and deleting DynamoDB items whose TTL has passed.

Each job runs every `every_s` seconds of AWS time (scaled by emulator.timescale, never more often than
MIN_INTERVAL_S). A job that raises is logged and runs again at its next turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from emulator.timescale import scaled

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float  # AWS seconds
    run: Callable[[], object]


class Housekeeping:
    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        self._intervals = [max(MIN_INTERVAL_S, scaled(job.every_s)) for job in jobs]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="housekeeping")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        due = [time.monotonic() + interval for interval in self._intervals]
        while True:
            wait = max(0.0, min(due) - time.monotonic())
            if self._stopping.wait(wait):
                return
            now = time.monotonic()
            for index, job in enumerate(self._jobs):
                if due[index] > now:
                    continue
                try:
                    job.run()
                except Exception:  # a failing job must not stop the others
                    log.exception("housekeeping job %s failed", job.name)
                due[index] = time.monotonic() + self._intervals[index]
