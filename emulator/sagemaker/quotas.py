"""How many instances an account may run, as SageMaker's service quotas bound them, with SageMaker's
ResourceLimitExceeded wording.

Each instance is a process on this machine, so the emulator holds every account to these defaults:
an endpoint runs at most INSTANCES_PER_ENDPOINT instances (production and shadow variants together),
and all endpoints together at most INSTANCES_PER_TYPE of one instance type ("ml.m5.large for endpoint
usage"). An update counts the new fleet beside the one it replaces, as it runs beside it until the
traffic has moved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from emulator.protocol.errors import AwsError
from emulator.sagemaker.resources import DeployedVariant, Endpoint

INSTANCES_PER_ENDPOINT = 20
INSTANCES_PER_TYPE = 100
PER_ENDPOINT_QUOTA = "Number of instances per endpoint"


def limit_exceeded(quota: str, limit: int, used: int, delta: int) -> AwsError:
    return AwsError(
        "ResourceLimitExceeded",
        f"The account-level service limit '{quota}' is {limit} Instances, with current utilization of "
        f"{used} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to "
        "request an increase for this quota. If AWS Service Quotas is not available, contact AWS support "
        "to request an increase for this quota.",
    )


def instances_by_type(variants: Iterable[DeployedVariant]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for variant in variants:
        counts[variant.instance_type] += variant.desired_instance_count
    return counts


def in_use(endpoints: Iterable[Endpoint]) -> Counter[str]:
    """Instances by type of every endpoint that runs or is bringing up a fleet (a Failed one runs none)."""
    counts: Counter[str] = Counter()
    for endpoint in endpoints:
        if endpoint.status != "Failed":
            counts += instances_by_type(endpoint.deployed.variants())
            if endpoint.pending:
                counts += instances_by_type(endpoint.pending.variants)
    return counts


def check(endpoint_instances: int, delta: Counter[str], used: Counter[str], endpoint_used: int = 0) -> None:
    """Raise ResourceLimitExceeded if an endpoint that will run `endpoint_instances` (of which it runs
    `endpoint_used` already) and `delta` more instances by type than now exceed a quota."""
    if endpoint_instances > INSTANCES_PER_ENDPOINT:
        raise limit_exceeded(
            PER_ENDPOINT_QUOTA, INSTANCES_PER_ENDPOINT, endpoint_used, endpoint_instances - endpoint_used
        )
    for instance_type, more in sorted(delta.items()):
        if more > 0 and used[instance_type] + more > INSTANCES_PER_TYPE:
            raise limit_exceeded(
                f"{instance_type} for endpoint usage", INSTANCES_PER_TYPE, used[instance_type], more
            )
