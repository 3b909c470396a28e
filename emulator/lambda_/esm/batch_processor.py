"""One Kinesis batch through Lambda's error handling: partial failures, bisection, retries, giving up.

The rules, as AWS documents them for stream sources:
- A function error, timeout or crash fails the whole batch; so does a malformed batchItemFailures.
- With ReportBatchItemFailures, the batch succeeds up to the lowest failed sequence number and is
  retried from that record.
- With BisectBatchOnFunctionError, a batch that fails with a function error is split in two and each
  half retried, first half first; splitting does not count towards MaximumRetryAttempts.
- A batch is given up when it has been retried MaximumRetryAttempts times or its oldest record is
  older than MaximumRecordAgeInSeconds; it then goes to the OnFailure destination and processing
  moves past it.
- When the function cannot be invoked at all (e.g. it was deleted), the batch is retried without
  consuming the retry quota, until its records are too old.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.lambda_.esm.config import PollSettings
from emulator.lambda_.esm.kinesis_event import EventRecord, MalformedResponse, event_payload, first_failure
from emulator.lambda_.esm.on_failure import RECORD_AGE_EXCEEDED, RETRIES_EXHAUSTED
from emulator.lambda_.esm.stats import MappingStats
from emulator.lambda_.workers import Report

log = logging.getLogger(__name__)

_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0

Invoke = Callable[[bytes], Report]
IteratorAge = Callable[[float], None]  # milliseconds, once per invocation


class NotInvoked(Exception):
    """The function could not be invoked (an error before invocation, not a function error)."""


@dataclass
class Segment:
    """Records still to be processed together, with what has been tried on them so far."""

    records: list[EventRecord]
    attempts: int = 0  # retries counted against MaximumRetryAttempts
    invokes: int = 0
    request_id: str = ""
    function_error: str | None = None


GiveUp = Callable[[Segment, str], None]


class BatchProcessor:
    def __init__(
        self,
        settings: PollSettings,
        invoke: Invoke,
        give_up: GiveUp,
        stats: MappingStats,
        stopping: threading.Event,
        iterator_age: IteratorAge | None = None,
    ) -> None:
        self._settings = settings
        self._invoke = invoke
        self._give_up = give_up
        self._stats = stats
        self._stopping = stopping
        self._iterator_age = iterator_age

    def process(self, records: list[EventRecord]) -> bool:
        """Process a batch to completion (every record succeeded or given up); False if stopped first."""
        pending = deque([Segment(records)])
        while pending:
            segment = pending.popleft()
            if self._stopping.is_set():
                return False
            if self._too_old(segment):
                self._give_up(segment, RECORD_AGE_EXCEEDED)
                continue
            try:
                failed_from, function_error = self._run(segment)
            except NotInvoked as exc:
                log.warning("event-source mapping could not invoke %s: %s", self._settings.function_name, exc)
                if self._stopping.wait(_MAX_BACKOFF_S):
                    return False
                pending.appendleft(segment)
                continue
            if failed_from is None:
                continue
            remaining = segment.records[failed_from:]
            if function_error and self._settings.bisect and len(remaining) > 1:
                half = len(remaining) // 2
                pending.extendleft(
                    [
                        Segment(remaining[half:], segment.attempts, segment.invokes, segment.request_id),
                        Segment(remaining[:half], segment.attempts, segment.invokes, segment.request_id),
                    ]
                )
                continue
            retry = Segment(
                remaining, segment.attempts + 1, segment.invokes, segment.request_id, segment.function_error
            )
            if 0 <= self._settings.max_retries < retry.attempts:
                self._give_up(retry, RETRIES_EXHAUSTED)
                continue
            self._stats.add("retries")
            if self._stopping.wait(min(_BACKOFF_S * 2 ** (retry.attempts - 1), _MAX_BACKOFF_S)):
                return False
            pending.appendleft(retry)
        return True

    def _too_old(self, segment: Segment) -> bool:
        max_age = self._settings.max_record_age_s
        return max_age >= 0 and time.time() - segment.records[0].record.arrival > max_age

    def _run(self, segment: Segment) -> tuple[int | None, bool]:
        """Invoke on the segment: (index of the first record to retry or None, whether a function error)."""
        # IteratorAge, as Lambda reports it: the age of the batch's last record when it is sent
        age_ms = (time.time() - segment.records[-1].record.arrival) * 1000
        report = self._invoke(event_payload(segment.records))
        if self._iterator_age is not None:
            self._iterator_age(age_ms)
        segment.invokes += 1
        segment.request_id = report.request_id
        self._stats.add("invocations")
        if report.outcome.error_type:
            segment.function_error = "Unhandled"
            return self._failed(0), True
        segment.function_error = None
        if not self._settings.report_item_failures:
            return self._succeeded(), False
        try:
            failed_from = first_failure(report.outcome.payload, segment.records)
        except MalformedResponse:
            return self._failed(0), False
        return (self._succeeded(), False) if failed_from is None else (self._failed(failed_from), False)

    def _succeeded(self) -> None:
        self._stats.last_result = "OK"
        return None

    def _failed(self, index: int) -> int:
        self._stats.add("failed_invocations")
        self._stats.last_result = "PROBLEM: Function call failed"
        return index
