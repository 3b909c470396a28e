"""Blue/green traffic shifting: all at once, canary or linear steps, baking after each step.

While baking, the auto-rollback alarms are polled; any alarm in ALARM, or running past
MaximumExecutionTimeoutInSeconds, sends all traffic back to blue and tears green down. After the last
step green serves alone and blue is terminated after TerminationWaitInSeconds. Every AWS duration is
multiplied by RTINFER_TIME_SCALE (emulator.timescale).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.sagemaker.deployment_config import BlueGreenSettings
from emulator.sagemaker.fleet import LiveEndpoint, stop_fleets
from emulator.timescale import scaled

if TYPE_CHECKING:
    from emulator.sagemaker.deploy import Rollout

POLL_S = 0.1


class BlueGreen:
    def __init__(
        self, settings: BlueGreenSettings, alarm_state: Callable[[str], str | None], drain_s: float
    ) -> None:
        self._settings = settings
        self._alarm_state = alarm_state
        self._drain_s = drain_s
        # the execution timeout counts from the UpdateEndpoint call, green's provisioning included
        self._deadline = time.monotonic() + scaled(settings.max_execution_s)

    def shift(self, blue: LiveEndpoint, green: LiveEndpoint, rollout: Rollout) -> str | None:
        for share in self._settings.shares:
            if not rollout.shift_to(share, "Baking"):
                stop_fleets(green.fleets())
                return "the endpoint was deleted during the deployment"
            reason = self._bake(share)
            if reason:
                rollout.revert()
                time.sleep(self._drain_s)
                stop_fleets(green.fleets())
                return reason
        if not rollout.promote():
            stop_fleets(green.fleets())
            return "the endpoint was deleted during the deployment"
        time.sleep(max(self._drain_s, scaled(self._settings.termination_wait_s)))
        stop_fleets(blue.fleets())
        return None

    def _bake(self, share: float) -> str | None:
        """Wait out one baking period; why to roll back, or None if it stayed healthy."""
        end = time.monotonic() + scaled(self._settings.wait_s)
        while True:
            for alarm in self._settings.alarms:
                if self._alarm_state(alarm) == "ALARM":
                    return f"alarm {alarm!r} went into ALARM while green took {share:.0%} of traffic"
            now = time.monotonic()
            if now >= self._deadline:
                return (
                    f"MaximumExecutionTimeoutInSeconds ({self._settings.max_execution_s}) exceeded while "
                    f"green took {share:.0%} of traffic"
                )
            if now >= end:
                return None
            time.sleep(min(POLL_S, end - now))
