"""One shard of one mapping: a reader thread and ParallelizationFactor lanes that invoke the function.

Records are routed to lanes by a hash of their partition key, so one key always lands in the same
lane and a lane processes its batches one after another: per-key order holds while up to N batches
of the shard run concurrently. The shard's checkpoint only advances over records that are finished
(succeeded or given up) with nothing unfinished before them, so a restart never skips a record; it may
re-deliver some, as Lambda may (at-least-once).

A caught-up reader of a shared-throughput mapping sleeps its poll interval; one of an enhanced
fan-out mapping (its source a stream consumer) waits for the shard's next put instead, as
SubscribeToShard pushes records as they arrive.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable

from emulator.kinesis.backend import KinesisBackend
from emulator.lambda_.esm.batch_processor import BatchProcessor
from emulator.lambda_.esm.config import PollSettings
from emulator.lambda_.esm.kinesis_event import MAX_EVENT_BYTES, EventRecord, event_record, event_size
from emulator.lambda_.esm.stats import MappingStats
from emulator.protocol.errors import AwsError

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.1  # when caught up (AWS polls each shard about once a second)
# Set in the emulator's environment, the interval of shared-throughput mappings instead (e.g. 1.0, as
# on AWS, to compare them with enhanced fan-out, whose reader waits for a put instead).
POLL_INTERVAL_ENV = "RTINFER_ESM_POLL_INTERVAL_S"
_READ_LIMIT = 10000  # GetRecords' maximum
_LANE_WAIT_S = 0.2
_EMPTY_EVENT_BYTES = event_size([])


def poll_interval_s() -> float:
    raw = os.environ.get(POLL_INTERVAL_ENV)
    if raw is None:
        return POLL_INTERVAL_S
    try:
        interval = float(raw)
    except ValueError:
        raise ValueError(f"{POLL_INTERVAL_ENV}={raw!r} is not a number") from None
    if not 0 < interval <= 60:
        raise ValueError(f"{POLL_INTERVAL_ENV}={raw!r} must be more than 0 and at most 60 seconds")
    return interval


class _Progress:
    """Which records read from the shard are finished, and the checkpoint that follows from it."""

    def __init__(self, checkpoint: str) -> None:
        self.checkpoint = checkpoint
        self._order: deque[str] = deque()
        self._finished: set[str] = set()
        self._lock = threading.Lock()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._order)

    def read(self, sequences: list[str]) -> None:
        with self._lock:
            self._order.extend(sequences)

    def finish(self, sequences: list[str]) -> str | None:
        """Mark records finished; the new checkpoint if it moved."""
        with self._lock:
            self._finished.update(sequences)
            moved = None
            while self._order and self._order[0] in self._finished:
                moved = self._order.popleft()
                self._finished.discard(moved)
            if moved is not None:
                self.checkpoint = moved
            return moved


class _Lane:
    """A queue of records for one hash slot, and the record that did not fit in the previous batch."""

    def __init__(self) -> None:
        self.records: queue.Queue[EventRecord] = queue.Queue()
        self.carry: EventRecord | None = None

    def _take(self, timeout: float | None) -> EventRecord | None:
        if self.carry is not None:
            record, self.carry = self.carry, None
            return record
        try:
            return self.records.get(timeout=timeout) if timeout else self.records.get_nowait()
        except queue.Empty:
            return None

    def next_batch(self, batch_size: int, window_s: float) -> list[EventRecord]:
        """Up to batch_size records (and 6 MB of event), waiting up to the batching window to fill it."""
        first = self._take(_LANE_WAIT_S)
        if first is None:
            return []
        batch = [first]
        size = event_size(batch)  # kept as a running total: measuring the whole batch per record is O(n²)
        deadline = time.monotonic() + window_s
        while len(batch) < batch_size:
            remaining = deadline - time.monotonic()
            record = self._take(remaining if remaining > 0 else None)
            if record is None:
                break
            grown = size + event_size([record]) - _EMPTY_EVENT_BYTES
            if grown > MAX_EVENT_BYTES:
                self.carry = record
                break
            batch.append(record)
            size = grown
        return batch


class ShardPoller:
    def __init__(
        self,
        shard_id: str,
        checkpoint: str,
        settings: PollSettings,
        kinesis: KinesisBackend,
        event_context: tuple[str, str],  # (region, invokeIdentityArn)
        processor_for: Callable[[threading.Event], BatchProcessor],
        save_checkpoint: Callable[[str, str], None],
        stats: MappingStats,
    ) -> None:
        self.shard_id = shard_id
        self._settings = settings
        self._kinesis = kinesis
        self._region, self._identity = event_context
        self._save_checkpoint = save_checkpoint
        self._stats = stats
        self._stopping = threading.Event()
        self._processor = processor_for(self._stopping)
        self._progress = _Progress(checkpoint)
        self._finishing = threading.Lock()
        self._lanes = [_Lane() for _ in range(settings.parallelization)]
        # bounded read-ahead: enough to keep every lane's next batch ready
        self._max_in_flight = max(2 * settings.batch_size * settings.parallelization, 100)
        self._poll_interval_s = poll_interval_s()
        self._threads = [threading.Thread(target=self._read_loop, daemon=True, name=f"esm-read-{shard_id}")]
        self._threads += [
            threading.Thread(target=self._lane_loop, args=(lane,), daemon=True, name=f"esm-lane-{shard_id}")
            for lane in self._lanes
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _read_loop(self) -> None:
        position = self._progress.checkpoint
        while not self._stopping.is_set():
            room = self._max_in_flight - self._progress.in_flight()
            if room <= 0:
                self._stopping.wait(POLL_INTERVAL_S)
                continue
            # taken before the read, so a put that commits after it ends the push wait below at once
            seen = self._kinesis.arrival_version(self._settings.stream_arn, self.shard_id)
            try:
                records = self._kinesis.read_shard(
                    self._settings.stream_arn,
                    self.shard_id,
                    after_sequence=position,
                    limit=min(room, _READ_LIMIT),
                )
            except AwsError as err:  # e.g. the stream was deleted: keep the mapping, report, back off
                log.warning("event-source mapping cannot read %s: %s", self.shard_id, err.message)
                self._stopping.wait(1.0)
                continue
            self._stats.read(self.shard_id, records[-1].arrival if records else None)
            if not records:
                self._idle(seen)
                continue
            self._stats.add("records_read", len(records))
            position = records[-1].sequence_number
            self._progress.read([r.sequence_number for r in records])
            filters = self._settings.filters
            if filters is not None:  # records no filter matches are processed without an invocation
                dropped = [r.sequence_number for r in records if not filters.matches(r.data)]
                if dropped:
                    self._stats.add("records_filtered", len(dropped))
                    self._finish(dropped)
                    kept = set(dropped)
                    records = [r for r in records if r.sequence_number not in kept]
            for record in records:
                lane = self._lanes[zlib.crc32(record.partition_key.encode()) % len(self._lanes)]
                lane.records.put(
                    event_record(record, self._settings.stream_arn, self._region, self._identity)
                )

    def _idle(self, seen: int) -> None:
        """Caught up: enhanced fan-out waits for the next put to the shard (checking for stop every
        _LANE_WAIT_S), a shared-throughput mapping sleeps its poll interval."""
        if self._settings.push:
            self._kinesis.wait_for_arrival(self._settings.stream_arn, self.shard_id, seen, _LANE_WAIT_S)
        else:
            self._stopping.wait(self._poll_interval_s)

    def _lane_loop(self, lane: _Lane) -> None:
        settings = self._settings
        while not self._stopping.is_set():
            batch = lane.next_batch(settings.batch_size, settings.batching_window_s)
            if not batch:
                continue
            self._stats.add("batches")
            if not self._process(batch):
                return  # stopped mid-batch: the checkpoint stays before it, so it is re-read later
            self._finish([r.sequence for r in batch])

    def _finish(self, sequences: list[str]) -> None:
        """Mark records finished and save the checkpoint if it moved (the reader and the lanes both
        finish records: one at a time, so a checkpoint is never overwritten by an older one)."""
        with self._finishing:
            moved = self._progress.finish(sequences)
            if moved is not None:
                self._save_checkpoint(self.shard_id, moved)

    def _process(self, batch: list[EventRecord]) -> bool:
        while True:
            try:
                return self._processor.process(batch)
            except Exception:  # an emulator bug must not skip records: log it and retry the batch
                log.exception("event-source mapping failed processing a batch of %s", self.shard_id)
                if self._stopping.wait(1.0):
                    return False
