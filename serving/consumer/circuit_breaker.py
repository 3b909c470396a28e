"""A circuit breaker for the endpoint: stop calling it after repeated failures, probe after a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """CLOSED → (threshold consecutive failures) → OPEN → (cool-down) → HALF_OPEN → one probe decides."""

    def __init__(
        self, failure_threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ):
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "CLOSED"
        return "HALF_OPEN" if self._clock() - self._opened_at >= self.cooldown_s else "OPEN"

    def allow(self) -> bool:
        return self.state != "OPEN"

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self._failures += 1
        if self.state == "HALF_OPEN" or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()  # a failed probe re-opens for a full cool-down
