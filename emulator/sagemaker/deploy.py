"""How UpdateEndpoint moves traffic from the running fleet to a new, already healthy one.

Only the plain switch exists today; blue/green policies (canary, linear, baking with auto-rollback)
implement the same `shift` and are picked by `policy_for` from the request's DeploymentConfig.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from emulator.protocol.errors import validation_exception
from emulator.sagemaker.fleet import LiveEndpoint, stop_fleets

# In-flight requests picked the old fleet before the switch; give them time to finish.
DRAIN_S = 1.0

Publish = Callable[[LiveEndpoint], None]


class DeploymentPolicy(Protocol):
    def shift(self, old: LiveEndpoint, new: LiveEndpoint, publish: Publish) -> None:
        """Route traffic from `old` to `new` via `publish`, then retire `old`'s workers."""


class AllAtOnce:
    def shift(self, old: LiveEndpoint, new: LiveEndpoint, publish: Publish) -> None:
        publish(new)
        time.sleep(DRAIN_S)
        stop_fleets(old.fleets())


def policy_for(deployment_config: dict | None) -> DeploymentPolicy:
    if deployment_config:
        raise validation_exception(
            f"DeploymentConfig {sorted(deployment_config)} is not supported by this emulator yet; "
            "omit it for an all-at-once switch"
        )
    return AllAtOnce()
