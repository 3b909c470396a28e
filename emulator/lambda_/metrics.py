"""What CloudWatch receives from Lambda: AWS/Lambda metrics per function, and EMF metrics from its logs.

Invocations only add to a per-(function, second) aggregate in memory; one background thread writes
finished seconds to CloudWatch's store twice a second, so no invocation waits on SQLite. The same
thread tails every live worker's log file and turns Embedded Metric Format lines into datapoints,
as CloudWatch Logs does; broken EMF lines stay plain log lines and are counted per function.

Published in AWS/Lambda with the dimension FunctionName (units as on AWS):
Invocations, Errors, Throttles (Count, one 0/1 sample per invocation; the emulator queues callers
beyond a function's concurrency instead of throttling, so Throttles is always 0), Duration
(Milliseconds, one sample per invocation), ConcurrentExecutions (Count, the most executions running
at once in the second) and, for functions behind a stream event-source mapping, IteratorAge
(Milliseconds, one sample per invocation batch: the age of the batch's last record).

Published in AWS/Logs with the dimension LogGroupName (/aws/lambda/<function>): IncomingLogEvents
(Count) and IncomingBytes (Bytes) of every line the function logged, what CloudWatch Logs ingests
and bills.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from emulator.cloudwatch.metrics import Datapoint, MetricStore
from emulator.lambda_.emf import MalformedEmf, parse_line

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
LOGS_NAMESPACE = "AWS/Logs"  # what CloudWatch Logs ingests from the function's log group
TICK_S = 0.5  # log tailing and flushing of finished seconds
_MAX_LINE_BYTES = 1024 * 1024  # a longer unterminated line is skipped as a plain log line
_MAX_READ_BYTES = 8 * 1024 * 1024  # per log file per tick


@dataclass
class _Second:
    invocations: int = 0
    errors: int = 0
    concurrency: int = 0
    durations: list[float] = field(default_factory=list)
    iterator_ages: list[float] = field(default_factory=list)


@dataclass
class _Tail:
    function: str
    offset: int = 0
    closing: bool = False


@dataclass
class _EmfCounts:
    lines: int = 0
    malformed: int = 0
    last_error: str | None = None


def _samples(name: str, dims: tuple, at: float, unit: str, samples: list[float]) -> Datapoint:
    return Datapoint(
        NAMESPACE,
        name,
        dims,
        at,
        unit,
        len(samples),
        sum(samples),
        min(samples),
        max(samples),
        tuple(samples),
    )


def _ingested(function: str, lines: list[bytes]) -> list[Datapoint]:
    """AWS/Logs IncomingLogEvents (Count) and IncomingBytes (Bytes) of the lines read from a log."""
    dims = (("LogGroupName", f"/aws/lambda/{function}"),)
    at, size, n = time.time(), float(sum(len(line) for line in lines)), len(lines)
    return [
        Datapoint(LOGS_NAMESPACE, "IncomingLogEvents", dims, at, "Count", 1, n, n, n),
        Datapoint(LOGS_NAMESPACE, "IncomingBytes", dims, at, "Bytes", 1, size, size, size),
    ]


class FunctionMetrics:
    def __init__(self, store: MetricStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], _Second] = {}
        self._in_flight: dict[str, int] = defaultdict(int)
        self._tails: dict[Path, _Tail] = {}
        self._emf: dict[str, _EmfCounts] = defaultdict(_EmfCounts)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lambda-metrics", daemon=True)

    # ---- the invoke path (memory only) ---------------------------------------------------------------

    def _second(self, function: str) -> _Second:
        return self._pending.setdefault((function, int(time.time())), _Second())

    @contextmanager
    def running(self, function: str, limit: int) -> Iterator[None]:
        """Around one invocation; `limit` is how many can actually run at once (others wait)."""
        with self._lock:
            self._in_flight[function] += 1
            second = self._second(function)
            second.concurrency = max(second.concurrency, min(self._in_flight[function], limit))
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[function] -= 1

    def invoked(self, function: str, duration_ms: float, failed: bool) -> None:
        with self._lock:
            second = self._second(function)
            second.invocations += 1
            second.errors += failed
            second.durations.append(duration_ms)

    def iterator_age(self, function: str, age_ms: float) -> None:
        with self._lock:
            self._second(function).iterator_ages.append(max(0.0, age_ms))

    # ---- logs ----------------------------------------------------------------------------------------

    def watch_log(self, function: str, path: Path) -> None:
        """Tail a worker's log file from its start."""
        with self._lock:
            self._tails.setdefault(path, _Tail(function))

    def unwatch_log(self, path: Path) -> None:
        """The worker stopped: read what is left of its log once more, then forget it."""
        with self._lock:
            tail = self._tails.get(path)
            if tail is not None:
                tail.closing = True

    def emf_stats(self, function: str) -> dict:
        with self._lock:
            counts = self._emf.get(function) or _EmfCounts()
            return {
                "emf_lines": counts.lines,
                "emf_malformed_lines": counts.malformed,
                "emf_last_error": counts.last_error,
            }

    def forget(self, function: str) -> None:
        """The function was deleted: drop its log counters (its datapoints stay, as on AWS)."""
        with self._lock:
            self._emf.pop(function, None)

    def read_logs(self) -> list[Datapoint]:
        """Datapoints of the EMF lines written since the last read, from every watched log."""
        with self._lock:
            tails = list(self._tails.items())
        points: list[Datapoint] = []
        for path, tail in tails:
            closing = tail.closing  # read before the file: a stopped worker has written everything
            lines = self._new_lines(path, tail, closing)
            if lines:
                self._parse(tail.function, lines, points)
                points.extend(_ingested(tail.function, lines))
            if closing:
                with self._lock:
                    self._tails.pop(path, None)
        return points

    @staticmethod
    def _new_lines(path: Path, tail: _Tail, final: bool) -> list[bytes]:
        try:
            if os.stat(path).st_size <= tail.offset:
                return []
            with open(path, "rb") as file:
                file.seek(tail.offset)
                data = file.read(_MAX_READ_BYTES)
        except OSError:
            return []
        end = len(data) if final else data.rfind(b"\n") + 1
        if end == 0 and len(data) > _MAX_LINE_BYTES:
            end = len(data)  # skip an overlong unterminated line (its rest parses as garbage, ignored)
        tail.offset += end
        return data[:end].splitlines()

    def _parse(self, function: str, lines: list[bytes], points: list[Datapoint]) -> None:
        good = bad = 0
        error = None
        for raw in lines:
            try:
                parsed = parse_line(raw.decode(errors="replace"))
            except MalformedEmf as exc:
                bad += 1
                error = str(exc)
                continue
            if parsed is not None:
                good += 1
                points.extend(parsed)
        if good or bad:
            with self._lock:
                counts = self._emf[function]
                counts.lines += good
                counts.malformed += bad
                counts.last_error = error or counts.last_error

    # ---- flushing ------------------------------------------------------------------------------------

    def flush(self, before: float = math.inf, extra: list[Datapoint] | None = None) -> None:
        """Write every aggregated second earlier than `before` (all of them by default), and `extra`."""
        with self._lock:
            done = {key: s for key, s in self._pending.items() if key[1] < before}
            for key in done:
                del self._pending[key]
        points = list(extra or ())
        for (function, at), second in done.items():
            dims = (("FunctionName", function),)
            n = second.invocations
            if n:
                points.append(Datapoint(NAMESPACE, "Invocations", dims, at, "Count", n, n, 1, 1))
                errors = second.errors
                points.append(
                    Datapoint(
                        NAMESPACE,
                        "Errors",
                        dims,
                        at,
                        "Count",
                        n,
                        errors,
                        float(errors == n),
                        float(errors > 0),
                    )
                )
                points.append(Datapoint(NAMESPACE, "Throttles", dims, at, "Count", n, 0, 0, 0))
                points.append(_samples("Duration", dims, at, "Milliseconds", second.durations))
            if second.concurrency:
                c = second.concurrency
                points.append(Datapoint(NAMESPACE, "ConcurrentExecutions", dims, at, "Count", 1, c, c, c))
            if second.iterator_ages:
                points.append(_samples("IteratorAge", dims, at, "Milliseconds", second.iterator_ages))
        try:
            self._store.put(points)
        except Exception:
            log.exception("could not store %d Lambda metric datapoints", len(points))

    # ---- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(TICK_S):
            try:
                self.flush(before=int(time.time()), extra=self.read_logs())
            except Exception:
                log.exception("Lambda metrics tick failed")

    def close(self) -> None:
        """After the workers stopped: read their logs a last time and write everything left."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush(extra=self.read_logs())
