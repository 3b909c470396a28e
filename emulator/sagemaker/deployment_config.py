"""UpdateEndpoint's DeploymentConfig, validated with SageMaker's ranges and field paths.

Only BlueGreenUpdatePolicy is emulated; RollingUpdatePolicy is refused with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator.protocol.errors import validation_exception
from emulator.sagemaker.validation import constraint_error

_POLICY = "deploymentConfig.blueGreenUpdatePolicy"
_ROUTING = f"{_POLICY}.trafficRoutingConfiguration"
ROUTING_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")
SIZE_TYPES = ("INSTANCE_COUNT", "CAPACITY_PERCENT")


@dataclass(frozen=True)
class BlueGreenSettings:
    shares: tuple[float, ...]  # green's share of traffic after each step; the last is 1.0
    wait_s: int
    termination_wait_s: int
    max_execution_s: int
    alarms: tuple[str, ...]


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise constraint_error(value, field, "Member must be an integer")
    if value < low:
        raise constraint_error(value, field, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise constraint_error(value, field, f"Member must have value less than or equal to {high}")
    return value


def _step_share(size: dict | None, field: str, capacity: int, low_percent: float) -> float:
    """A CanarySize/LinearStepSize as a share of green's capacity, within [low_percent, 50%]."""
    if not size:
        raise constraint_error(size, field, "Member must not be null")
    kind = size.get("Type")
    if kind not in SIZE_TYPES:
        raise constraint_error(
            kind, f"{field}.type", f"Member must satisfy enum value set: {list(SIZE_TYPES)}"
        )
    value = _integer(size.get("Value"), f"{field}.value", 1, 1_000_000)
    share = value / 100 if kind == "CAPACITY_PERCENT" else value / capacity
    if not low_percent / 100 <= share <= 0.5:
        raise validation_exception(
            f"{field} {kind} {value} is {share:.0%} of the new fleet's {capacity} instance(s); it must be "
            f"between {low_percent:g}% and 50% of the new fleet's capacity"
        )
    return share


def _shares(routing: dict | None, capacity: int) -> tuple[float, ...]:
    if not routing:
        raise constraint_error(routing, _ROUTING, "Member must not be null")
    kind = routing.get("Type")
    if kind not in ROUTING_TYPES:
        raise constraint_error(
            kind, f"{_ROUTING}.type", f"Member must satisfy enum value set: {list(ROUTING_TYPES)}"
        )
    if kind == "CANARY":
        return (_step_share(routing.get("CanarySize"), f"{_ROUTING}.canarySize", capacity, 0), 1.0)
    if kind == "LINEAR":
        step = _step_share(routing.get("LinearStepSize"), f"{_ROUTING}.linearStepSize", capacity, 10)
        count = int(1 / step + 1e-9)
        return tuple(min(1.0, step * i) for i in range(1, count + 1)) + (
            (1.0,) if count * step < 1 - 1e-9 else ()
        )
    return (1.0,)


def parse_deployment_config(
    config: dict, capacity: int, alarm_exists: Callable[[str], bool]
) -> BlueGreenSettings:
    """`capacity`: the new config's production instance count, which canary and linear sizes refer to."""
    if "RollingUpdatePolicy" in config:
        raise validation_exception(
            "DeploymentConfig.RollingUpdatePolicy is not supported by this emulator; "
            "use BlueGreenUpdatePolicy"
        )
    policy = config.get("BlueGreenUpdatePolicy")
    if not policy:
        raise validation_exception("DeploymentConfig must contain a BlueGreenUpdatePolicy")
    routing = policy.get("TrafficRoutingConfiguration")
    shares = _shares(routing, capacity)
    wait = _integer(routing.get("WaitIntervalInSeconds"), f"{_ROUTING}.waitIntervalInSeconds", 0, 3600)
    termination = _integer(
        policy.get("TerminationWaitInSeconds", 0), f"{_POLICY}.terminationWaitInSeconds", 0, 3600
    )
    maximum = _integer(
        policy.get("MaximumExecutionTimeoutInSeconds", 14400),
        f"{_POLICY}.maximumExecutionTimeoutInSeconds",
        600,
        14400,
    )
    alarms = tuple(
        a.get("AlarmName", "") for a in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    )
    missing = [name for name in alarms if not alarm_exists(name)]
    if missing:
        raise validation_exception(
            f"AutoRollbackConfiguration.Alarms: CloudWatch alarm(s) {missing} do not exist; create them with "
            "PutMetricAlarm first"
        )
    return BlueGreenSettings(shares, wait, termination, maximum, alarms)
