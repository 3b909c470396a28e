"""The endpoint jobs' inputs, validated, and the calls they make: one function per job.

Each config names the endpoint and, where it needs one, a registered model version (empty means the
newest Approved version). The Dagster jobs in jobs/endpoint.py are thin wrappers around these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestration.endpoint.history import UNTRACED, RolloutResult, Trigger
from orchestration.endpoint.names import ENDPOINT_NAME, PACKAGE_GROUP, RESOURCE_NAME_PATTERN
from orchestration.endpoint.rollout import DeploymentPolicy
from orchestration.endpoint.strategies import (
    Clients,
    deploy,
    promote,
    restore_recorded,
    rollback,
    set_traffic,
    start_shadow,
)
from orchestration.model.artifact import PackedArtifact
from orchestration.model.registry import (
    APPROVED,
    RegisteredVersion,
    find_version,
    publish_artifact,
    set_approval,
    versions,
)
from orchestration.settings import Settings

_NAME = RESOURCE_NAME_PATTERN


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_name: str = Field(ENDPOINT_NAME, pattern=_NAME, description="the SageMaker endpoint to change")
    package_group: str = Field(PACKAGE_GROUP, pattern=_NAME, description="the registry's model package group")


class DeployConfig(DeploymentPolicy, _Target):
    """Blue/green deployment of a registered version as the only production variant."""

    model_version: str = Field("", description="registered model version; empty = newest Approved")
    override_rejection: str = Field(
        "",
        max_length=1024,
        description="to deploy a Rejected version anyway, the reason (recorded in the deployment history); "
        "empty = Rejected versions are refused",
    )


class PromoteConfig(DeploymentPolicy, _Target):
    """The current candidate (A/B or shadow) becomes production, blue/green."""


class ShadowConfig(_Target):
    """Run a registered version as a shadow variant on a copy of the traffic."""

    model_version: str = Field("", description="registered model version; empty = newest Approved")
    sampling_share: float = Field(1.0, gt=0, le=1, description="share of requests mirrored to the shadow")
    instance_count: int = Field(1, ge=1, le=10, description="instances of the shadow variant")
    wait_seconds: int = Field(
        600, ge=1, le=3600, description="how long the run waits for the endpoint to settle"
    )


class ABTrafficConfig(_Target):
    """Serve a registered version beside production, with this share of the callers' traffic."""

    model_version: str = Field("", description="registered model version; empty = newest Approved")
    candidate_weight: float = Field(
        0.1, gt=0, lt=1, description="share of callers' requests the candidate serves"
    )
    instance_count: int = Field(1, ge=1, le=10, description="instances of the candidate variant")
    wait_seconds: int = Field(
        600, ge=1, le=3600, description="how long the run waits for the endpoint to settle"
    )


class RollbackConfig(_Target):
    """Drop the candidate, or return to the last known-good production version."""

    wait_seconds: int = Field(
        600, ge=1, le=3600, description="how long the run waits for the endpoint to settle"
    )
    reject_rolled_back: bool = Field(
        True, description="mark the version taken off Rejected in the registry, so no deploy picks it again"
    )
    restore_recorded: bool = Field(
        False,
        description="instead: put the endpoint back on the layout the deployment history last recorded "
        "(after a run failed mid-change); rejects nothing",
    )


class ApprovalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    package_group: str = Field(PACKAGE_GROUP, pattern=_NAME, description="the registry's model package group")
    model_version: str = Field(..., min_length=1, description="the registered model version to decide on")
    decision: Literal["Approved", "Rejected"] = Field("Approved", description="the decision")
    note: str = Field("reviewed", min_length=1, max_length=1024, description="why (recorded on the package)")


def resolve_version(sm, group: str, model_version: str) -> RegisteredVersion:
    if model_version:
        return find_version(sm, group, model_version)
    approved = versions(sm, group, APPROVED)
    if not approved:
        raise LookupError(f"package group {group!r} has no Approved version to deploy")
    return approved[0]


def _policy(config: BaseModel, **overrides) -> DeploymentPolicy:
    fields = {k: v for k, v in config.model_dump().items() if k in DeploymentPolicy.model_fields}
    return DeploymentPolicy(**{**fields, **overrides})


def run_deploy(
    clients: Clients, settings: Settings, config: DeployConfig, trigger: Trigger = UNTRACED
) -> RolloutResult:
    version = resolve_version(clients.sagemaker, config.package_group, config.model_version)
    policy = _policy(config)
    return deploy(
        clients, settings, config.endpoint_name, version.arn, policy, trigger, config.override_rejection
    )


def run_shadow(
    clients: Clients, settings: Settings, config: ShadowConfig, trigger: Trigger = UNTRACED
) -> RolloutResult:
    version = resolve_version(clients.sagemaker, config.package_group, config.model_version)
    policy = _policy(config, strategy="ALL_AT_ONCE", alarms=False)
    return start_shadow(
        clients, settings, config.endpoint_name, version.arn, config.sampling_share, policy, trigger
    )


def run_set_traffic(
    clients: Clients, settings: Settings, config: ABTrafficConfig, trigger: Trigger = UNTRACED
) -> RolloutResult:
    version = resolve_version(clients.sagemaker, config.package_group, config.model_version)
    policy = _policy(config, strategy="ALL_AT_ONCE", alarms=False)
    return set_traffic(
        clients, settings, config.endpoint_name, version.arn, config.candidate_weight, policy, trigger
    )


def run_promote(
    clients: Clients, settings: Settings, config: PromoteConfig, trigger: Trigger = UNTRACED
) -> RolloutResult:
    return promote(clients, settings, config.endpoint_name, _policy(config), trigger)


def run_rollback(
    clients: Clients, settings: Settings, config: RollbackConfig, trigger: Trigger = UNTRACED
) -> RolloutResult:
    policy = _policy(config)
    if config.restore_recorded:
        return restore_recorded(clients, settings, config.endpoint_name, policy, trigger)
    return rollback(clients, settings, config.endpoint_name, policy, trigger, config.reject_rolled_back)


def run_approval(sm, config: ApprovalConfig) -> RegisteredVersion:
    version = find_version(sm, config.package_group, config.model_version)
    return set_approval(sm, version.arn, config.decision, config.note)


def deploy_artifact(
    clients: Clients,
    settings: Settings,
    packed: PackedArtifact,
    endpoint_name: str,
    package_group: str,
    instance_count: int = 1,
    environment: dict[str, str] | None = None,
) -> RolloutResult:
    """Publish a packed model as an Approved version and deploy it all at once: the product's own path
    (registry, then the deploy strategy) in one call, for setting up an endpoint from a file."""
    version = publish_artifact(
        clients.s3, clients.sagemaker, settings, package_group, packed, environment=environment
    )
    config = DeployConfig(
        endpoint_name=endpoint_name,
        package_group=package_group,
        model_version=version.model_version,
        # Setting an endpoint up from a file: no baking, the old fleet (if any) goes at once.
        strategy="ALL_AT_ONCE",
        alarms=False,
        wait_interval_s=0,
        termination_wait_s=0,
        instance_count=instance_count,
        wait_seconds=600,
    )
    return run_deploy(clients, settings, config)
