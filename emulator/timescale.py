"""One knob that makes AWS's minutes pass in seconds locally.

`RTINFER_TIME_SCALE` (default 1.0) multiplies every duration the emulator waits on behalf of AWS
semantics: blue/green WaitIntervalInSeconds, TerminationWaitInSeconds and
MaximumExecutionTimeoutInSeconds, CloudWatch alarm evaluation periods, Kinesis retention periods,
DynamoDB's one TTL change per hour, and how often the background housekeeping runs. With 0.01 a
300 s baking period takes 3 s and a stream's 24 h retention 14.4 minutes. TTL expiry times are
absolute epoch seconds and are not scaled. It is read from the emulator process's environment at
use, so set it before the emulator starts.
"""

from __future__ import annotations

import os

ENV_VAR = "RTINFER_TIME_SCALE"


def time_scale() -> float:
    raw = os.environ.get(ENV_VAR, "1.0")
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_VAR}={raw!r} is not a number") from None
    if not scale > 0:
        raise ValueError(f"{ENV_VAR}={raw!r} must be greater than 0")
    return scale


def scaled(seconds: float) -> float:
    """How many real seconds an AWS duration of `seconds` lasts here."""
    return seconds * time_scale()
