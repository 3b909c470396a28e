"""How UpdateEndpoint moves traffic from the running (blue) fleet to a new, already healthy (green) one.

`policy_for` picks the policy from the request's DeploymentConfig: none means the plain all-at-once
switch; a BlueGreenUpdatePolicy shifts traffic in steps with baking periods and alarm-driven
auto-rollback (emulator.sagemaker.blue_green). A policy drives a `Rollout`, which the backend
implements by publishing LiveEndpoints for the invoke path and recording progress for
DescribeEndpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from emulator.sagemaker.blue_green import BlueGreen
from emulator.sagemaker.deployment_config import parse_deployment_config
from emulator.sagemaker.fleet import LiveEndpoint, stop_fleets

# In-flight requests picked the old fleet before the switch; give them time to finish.
DRAIN_S = 1.0


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


def policy_for(
    deployment_config: dict | None,
    capacity: int,
    alarm_state: Callable[[str], str | None],
) -> DeploymentPolicy:
    """`capacity`: the new config's production instance count; `alarm_state`: CloudWatch's view."""
    if not deployment_config:
        return AllAtOnce()
    settings = parse_deployment_config(
        deployment_config, capacity, lambda name: alarm_state(name) is not None
    )
    return BlueGreen(settings, alarm_state, DRAIN_S)
