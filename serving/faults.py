"""Fault injection for the model server, so tests and demos can deploy a misbehaving model for real.

Set `RTINFER_FAULT` in the container environment (on SageMaker: the model's PrimaryContainer
Environment, which the emulator passes to its workers) to comma-separated settings:
  error_rate=R    answer this fraction of invocations (0..1) with HTTP 500
  latency_ms=N    sleep N ms before answering every invocation
e.g. `RTINFER_FAULT="error_rate=1.0"` or `"latency_ms=200,error_rate=0.1"`. Unset means no fault.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

ENV_VAR = "RTINFER_FAULT"


class FaultSpecError(ValueError):
    """RTINFER_FAULT is malformed; the message names the bad setting."""


@dataclass(frozen=True)
class Fault:
    error_rate: float = 0.0
    latency_s: float = 0.0

    def fails_now(self) -> bool:
        return self.error_rate > 0 and random.random() < self.error_rate


def parse_fault(spec: str) -> Fault:
    settings: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or key.strip() not in ("error_rate", "latency_ms"):
            raise FaultSpecError(f"{ENV_VAR}: {part!r} is not error_rate=R or latency_ms=N")
        try:
            value = float(raw)
        except ValueError:
            raise FaultSpecError(f"{ENV_VAR}: {key.strip()} value {raw!r} is not a number") from None
        settings[key.strip()] = value
    error_rate = settings.get("error_rate", 0.0)
    latency_ms = settings.get("latency_ms", 0.0)
    if not 0 <= error_rate <= 1:
        raise FaultSpecError(f"{ENV_VAR}: error_rate={error_rate} must be between 0 and 1")
    if latency_ms < 0:
        raise FaultSpecError(f"{ENV_VAR}: latency_ms={latency_ms} must not be negative")
    return Fault(error_rate, latency_ms / 1000)


def fault_from_env() -> Fault:
    return parse_fault(os.environ.get(ENV_VAR, ""))
