"""UpdateEndpoint's DeploymentConfig on the wire: validated with SageMaker's ranges and field paths into a
BlueGreenPolicy, and rendered back for DescribeEndpoint's LastDeploymentConfig.

Only BlueGreenUpdatePolicy is emulated; RollingUpdatePolicy is refused with a clear message.
"""

from __future__ import annotations

from emulator.protocol.errors import validation_exception
from emulator.sagemaker.resources import BlueGreenPolicy, StepSize
from emulator.sagemaker.validation import constraint_error

_POLICY = "deploymentConfig.blueGreenUpdatePolicy"
_ROUTING = f"{_POLICY}.trafficRoutingConfiguration"
ROUTING_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")
SIZE_TYPES = ("INSTANCE_COUNT", "CAPACITY_PERCENT")
_SIZE_MEMBERS = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}
_LOWEST_PERCENT = {"CANARY": 0, "LINEAR": 10}


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise constraint_error(value, field, "Member must be an integer")
    if value < low:
        raise constraint_error(value, field, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise constraint_error(value, field, f"Member must have value less than or equal to {high}")
    return value


def _step(size: dict | None, field: str, capacity: int | None, low_percent: float) -> StepSize:
    """A CanarySize/LinearStepSize whose share of green's capacity is within [low_percent, 50%]."""
    if not size:
        raise constraint_error(size, field, "Member must not be null")
    kind = size.get("Type")
    if kind not in SIZE_TYPES:
        raise constraint_error(
            kind, f"{field}.type", f"Member must satisfy enum value set: {list(SIZE_TYPES)}"
        )
    step = StepSize(kind, _integer(size.get("Value"), f"{field}.value", 1, 1_000_000))
    if capacity is None:
        return step
    share = step.share(capacity)
    if not low_percent / 100 <= share <= 0.5:
        raise validation_exception(
            f"{field} {kind} {step.value} is {share:.0%} of the new fleet's {capacity} instance(s); it must "
            f"be between {low_percent:g}% and 50% of the new fleet's capacity"
        )
    return step


def parse_deployment_config(config: dict, capacity: int | None) -> BlueGreenPolicy:
    """`capacity`: the new config's production instance count, which canary and linear sizes refer to;
    None for a config accepted earlier (state written by a previous release), whose sizes were checked
    then against a fleet that may no longer be known."""
    if "RollingUpdatePolicy" in config:
        raise validation_exception(
            "DeploymentConfig.RollingUpdatePolicy is not supported by this emulator; "
            "use BlueGreenUpdatePolicy"
        )
    policy = config.get("BlueGreenUpdatePolicy")
    if not policy:
        raise validation_exception("DeploymentConfig must contain a BlueGreenUpdatePolicy")
    routing = policy.get("TrafficRoutingConfiguration")
    if not routing:
        raise constraint_error(routing, _ROUTING, "Member must not be null")
    kind = routing.get("Type")
    if kind not in ROUTING_TYPES:
        raise constraint_error(
            kind, f"{_ROUTING}.type", f"Member must satisfy enum value set: {list(ROUTING_TYPES)}"
        )
    step = None
    if kind in _SIZE_MEMBERS:
        member = _SIZE_MEMBERS[kind]
        field = f"{_ROUTING}.{member[0].lower()}{member[1:]}"
        step = _step(routing.get(member), field, capacity, _LOWEST_PERCENT[kind])
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
    return BlueGreenPolicy(kind, step, wait, termination, maximum, alarms)


def render_deployment_config(policy: BlueGreenPolicy) -> dict:
    routing: dict = {"Type": policy.routing, "WaitIntervalInSeconds": policy.wait_s}
    if policy.step is not None:
        routing[_SIZE_MEMBERS[policy.routing]] = {"Type": policy.step.kind, "Value": policy.step.value}
    config: dict = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": policy.termination_wait_s,
            "MaximumExecutionTimeoutInSeconds": policy.max_execution_s,
        }
    }
    if policy.alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in policy.alarms]}
    return config
