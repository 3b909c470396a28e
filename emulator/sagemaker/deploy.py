"""How UpdateEndpoint moves traffic from the running (blue) fleet to a new, already healthy (green) one.

Without a deployment policy green takes over all at once. A BlueGreenPolicy shifts traffic all at
once, as a canary or in linear steps, baking after each step; while baking, the auto-rollback alarms
are polled, and any alarm in ALARM, or running past the maximum execution time, sends all traffic
back to blue and tears green down. After the last step green serves alone and blue is terminated
after the termination wait. Every AWS duration is multiplied by RTINFER_TIME_SCALE
(emulator.timescale).

A policy drives a `Rollout`, which the backend implements by publishing LiveEndpoints for the invoke
path and recording progress for DescribeEndpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from emulator.protocol.errors import validation_exception
from emulator.sagemaker.fleet import LiveEndpoint, stop_fleets
from emulator.sagemaker.resources import BlueGreenPolicy
from emulator.timescale import scaled

# In-flight requests picked the old fleet before the switch; give them time to finish.
DRAIN_S = 1.0
POLL_S = 0.1

AlarmState = Callable[[str], str | None]


class Rollout(Protocol):
    def shift_to(self, green_share: float, phase: str) -> bool:
        """Send `green_share` of requests to green (0 = all to blue); False once the endpoint is gone."""

    def promote(self) -> bool:
        """Serve from green alone; False once the endpoint is gone."""

    def revert(self) -> None:
        """Serve from blue alone again."""


class DeploymentPolicy(Protocol):
    def shift(self, blue: LiveEndpoint, green: LiveEndpoint, rollout: Rollout) -> str | None:
        """Move traffic and retire the losing fleet's workers; the rollback reason, or None on success."""


class AllAtOnce:
    def shift(self, blue: LiveEndpoint, green: LiveEndpoint, rollout: Rollout) -> str | None:
        rollout.promote()
        time.sleep(DRAIN_S)
        stop_fleets(blue.fleets())
        return None


class BlueGreen:
    def __init__(self, policy: BlueGreenPolicy, capacity: int, alarm_state: AlarmState) -> None:
        self._policy = policy
        self._shares = policy.shares(capacity)
        self._alarm_state = alarm_state
        # the execution timeout counts from the UpdateEndpoint call, green's provisioning included
        self._deadline = time.monotonic() + scaled(policy.max_execution_s)

    def shift(self, blue: LiveEndpoint, green: LiveEndpoint, rollout: Rollout) -> str | None:
        for share in self._shares:
            if not rollout.shift_to(share, "Baking"):
                stop_fleets(green.fleets())
                return "the endpoint was deleted during the deployment"
            reason = self._bake(share)
            if reason:
                rollout.revert()
                time.sleep(DRAIN_S)
                stop_fleets(green.fleets())
                return reason
        if not rollout.promote():
            stop_fleets(green.fleets())
            return "the endpoint was deleted during the deployment"
        time.sleep(max(DRAIN_S, scaled(self._policy.termination_wait_s)))
        stop_fleets(blue.fleets())
        return None

    def _bake(self, share: float) -> str | None:
        """Wait out one baking period; why to roll back, or None if it stayed healthy."""
        end = time.monotonic() + scaled(self._policy.wait_s)
        while True:
            for alarm in self._policy.alarms:
                if self._alarm_state(alarm) == "ALARM":
                    return f"alarm {alarm!r} went into ALARM while green took {share:.0%} of traffic"
            now = time.monotonic()
            if now >= self._deadline:
                return (
                    f"MaximumExecutionTimeoutInSeconds ({self._policy.max_execution_s}) exceeded while "
                    f"green took {share:.0%} of traffic"
                )
            if now >= end:
                return None
            time.sleep(min(POLL_S, end - now))


def policy_for(policy: BlueGreenPolicy | None, capacity: int, alarm_state: AlarmState) -> DeploymentPolicy:
    """`capacity`: the new config's production instance count; `alarm_state`: CloudWatch's view."""
    if policy is None:
        return AllAtOnce()
    missing = [name for name in policy.alarms if alarm_state(name) is None]
    if missing:
        raise validation_exception(
            f"AutoRollbackConfiguration.Alarms: CloudWatch alarm(s) {missing} do not exist; create them with "
            "PutMetricAlarm first"
        )
    return BlueGreen(policy, capacity, alarm_state)
