"""The five things people do to an endpoint: deploy, shadow, set traffic, promote, roll back.

Each takes the boto3 clients, acts through SageMaker, records the result in the deployment history and
returns it (the Dagster jobs put it in their run metadata), with the run and the reason that asked
for it. Only Approved registry versions are deployed (or a Rejected one with a stated override).
Rollback means: drop the candidate if there is one, else return to the last known-good production
version; the version taken off becomes Rejected with the reason, as does a version whose canary
rolled back, so "the newest Approved version" never picks it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from orchestration.endpoint.history import UNTRACED, DeploymentHistory, RolloutResult, Trigger
from orchestration.endpoint.names import CANDIDATE, PRODUCTION
from orchestration.endpoint.rollout import (
    DeploymentPolicy,
    VariantSpec,
    apply_config,
    ensure_endpoint_config,
    ensure_model_from_package,
    put_guardrail_alarms,
    settle,
    wait_in_service,
)
from orchestration.model.registry import (
    REJECTED,
    RegisteredVersion,
    describe_version,
    reject,
    require_deployable,
)
from orchestration.settings import Settings


@dataclass(frozen=True)
class Clients:
    sagemaker: object
    cloudwatch: object
    s3: object


class NothingToDo(RuntimeError):
    """The endpoint's state does not allow the action (e.g. promote without a candidate)."""


def _variant(
    clients: Clients,
    settings: Settings,
    role: str,
    version: RegisteredVersion,
    weight: float,
    policy: DeploymentPolicy,
) -> VariantSpec:
    model = ensure_model_from_package(clients.sagemaker, settings, version)
    return VariantSpec(role, model, weight, policy.instance_count, policy.instance_type)


def _finish(history: DeploymentHistory, started: float, trigger: Trigger, **fields) -> RolloutResult:
    return history.append(
        RolloutResult(
            seconds=round(time.monotonic() - started, 2),
            run_id=trigger.run_id or None,
            reason=trigger.reason or None,
            **fields,
        )
    )


def _current(history: DeploymentHistory, endpoint: str) -> RolloutResult:
    current = history.current()
    if current is None:
        raise NothingToDo(f"endpoint {endpoint} has no recorded deployment; run the deploy job first")
    return current


def deploy(
    clients: Clients,
    settings: Settings,
    endpoint: str,
    package_arn: str,
    policy: DeploymentPolicy,
    trigger: Trigger = UNTRACED,
    override: str = "",
    action: str = "deploy",
    rolls_back: str | None = None,
) -> RolloutResult:
    """Make `package_arn` the only production variant, blue/green with alarm-driven auto-rollback.

    A Rejected version is deployed only with an `override` (the reason, recorded in the history).
    """
    started = time.monotonic()
    version = require_deployable(clients.sagemaker, package_arn, override)
    variant = _variant(clients, settings, PRODUCTION, version, 1.0, policy)
    config = ensure_endpoint_config(clients.sagemaker, settings, endpoint, [variant])
    alarms = put_guardrail_alarms(clients.cloudwatch, endpoint, PRODUCTION, policy) if policy.alarms else []
    history = DeploymentHistory(clients.s3, settings, endpoint)
    outcome, previous, reason = apply_config(
        clients.sagemaker, endpoint, config, policy.deployment_config(alarms), policy.wait_seconds
    )
    if outcome == "rolled_back":
        # The endpoint kept its layout; the version is recorded as the failed candidate, and rejected
        # (unless this was a rollback's own deploy failing: the known-good version stays known-good).
        if rolls_back is None:
            reject(clients.sagemaker, version.arn, f"its {action} rolled back: {reason}")
        current = _current(history, endpoint)
        layout = {
            "mode": current.mode,
            "endpoint_config_name": previous,
            "production_version": current.production_version,
            "production_arn": current.production_arn,
            "candidate_version": version.model_version,
            "candidate_arn": version.arn,
            "failure_reason": reason,
        }
    else:
        layout = {
            "mode": "single",
            "endpoint_config_name": config,
            "production_version": version.model_version,
            "production_arn": version.arn,
        }
    return _finish(
        history,
        started,
        trigger,
        action=action,
        endpoint_name=endpoint,
        outcome=outcome,
        previous_config_name=previous,
        rolled_back_arn=rolls_back,
        override=override.strip() or None,
        **layout,
    )


def _with_candidate(
    clients: Clients,
    settings: Settings,
    endpoint: str,
    package_arn: str,
    weight: float,
    policy: DeploymentPolicy,
    mode: str,
    action: str,
    trigger: Trigger,
) -> RolloutResult:
    started = time.monotonic()
    history = DeploymentHistory(clients.s3, settings, endpoint)
    current = _current(history, endpoint)
    production = describe_version(clients.sagemaker, current.production_arn)
    candidate = require_deployable(clients.sagemaker, package_arn)
    if mode == "shadow":
        variants = [_variant(clients, settings, PRODUCTION, production, 1.0, policy)]
        shadow = _variant(clients, settings, CANDIDATE, candidate, weight, policy)
    else:
        variants = [
            _variant(clients, settings, PRODUCTION, production, 1.0 - weight, policy),
            _variant(clients, settings, CANDIDATE, candidate, weight, policy),
        ]
        shadow = None
    config = ensure_endpoint_config(clients.sagemaker, settings, endpoint, variants, shadow)
    outcome, previous, reason = apply_config(clients.sagemaker, endpoint, config, None, policy.wait_seconds)
    return _finish(
        history,
        started,
        trigger,
        action=action,
        endpoint_name=endpoint,
        outcome=outcome,
        mode=mode,
        endpoint_config_name=config,
        previous_config_name=previous,
        production_version=production.model_version,
        production_arn=production.arn,
        candidate_version=candidate.model_version,
        candidate_arn=candidate.arn,
        candidate_weight=weight,
        failure_reason=reason,
    )


def start_shadow(
    clients: Clients,
    settings: Settings,
    endpoint: str,
    package_arn: str,
    sampling_share: float,
    policy: DeploymentPolicy,
    trigger: Trigger = UNTRACED,
) -> RolloutResult:
    """Run `package_arn` as a shadow: it sees a copy of `sampling_share` of requests, callers never see it."""
    if not 0 < sampling_share <= 1:
        raise ValueError(f"sampling_share must be in (0, 1], got {sampling_share}")
    return _with_candidate(
        clients, settings, endpoint, package_arn, sampling_share, policy, "shadow", "shadow", trigger
    )


def set_traffic(
    clients: Clients,
    settings: Settings,
    endpoint: str,
    package_arn: str,
    candidate_weight: float,
    policy: DeploymentPolicy,
    trigger: Trigger = UNTRACED,
) -> RolloutResult:
    """A/B: production and candidate both serve callers, split by weight."""
    if not 0 < candidate_weight < 1:
        raise ValueError(f"candidate_weight must be strictly between 0 and 1, got {candidate_weight}")
    history = DeploymentHistory(clients.s3, settings, endpoint)
    current = _current(history, endpoint)
    if current.mode == "ab" and current.candidate_arn == package_arn:
        started = time.monotonic()
        # Same two variants: only the split changes, in place, as SageMaker allows.
        clients.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[
                {"VariantName": PRODUCTION, "DesiredWeight": 1.0 - candidate_weight},
                {"VariantName": CANDIDATE, "DesiredWeight": candidate_weight},
            ],
        )
        wait_in_service(clients.sagemaker, endpoint, policy.wait_seconds)
        changed = replace(
            current,
            action="set_traffic",
            outcome="deployed",
            candidate_weight=candidate_weight,
            failure_reason=None,
            previous_config_name=current.endpoint_config_name,
            run_id=trigger.run_id or None,
            reason=trigger.reason or None,
            seconds=round(time.monotonic() - started, 2),
        )
        return history.append(changed)
    return _with_candidate(
        clients, settings, endpoint, package_arn, candidate_weight, policy, "ab", "set_traffic", trigger
    )


def promote(
    clients: Clients,
    settings: Settings,
    endpoint: str,
    policy: DeploymentPolicy,
    trigger: Trigger = UNTRACED,
) -> RolloutResult:
    """The candidate becomes the only production variant (blue/green, guarded by the same alarms)."""
    current = _current(DeploymentHistory(clients.s3, settings, endpoint), endpoint)
    if not current.candidate_arn or current.mode == "single":
        raise NothingToDo(f"endpoint {endpoint} has no candidate to promote (mode {current.mode})")
    return deploy(clients, settings, endpoint, current.candidate_arn, policy, trigger, action="promote")


def rollback(
    clients: Clients,
    settings: Settings,
    endpoint: str,
    policy: DeploymentPolicy,
    trigger: Trigger = UNTRACED,
    reject_rolled_back: bool = True,
) -> RolloutResult:
    """Drop the candidate if there is one; otherwise go back to the last known-good production version.

    The version taken off becomes Rejected (with the trigger's reason) unless `reject_rolled_back`
    is False. With no known-good version to go to, nothing changes and NothingToDo says why.
    """
    sm = clients.sagemaker
    history = DeploymentHistory(clients.s3, settings, endpoint)
    current = _current(history, endpoint)
    if current.mode != "single":
        target, removed = current.production_arn, current.candidate_arn
    else:
        target = history.last_known_good(lambda arn: describe_version(sm, arn).status == REJECTED)
        if target is None:
            raise NothingToDo(
                f"endpoint {endpoint} has no known-good version to roll back to: every version that "
                f"served production before {current.production_version} was rolled back or is Rejected"
            )
        removed = current.production_arn
    if reject_rolled_back and removed:
        who = f"run {trigger.run_id}" if trigger.run_id else "a rollback"
        reject(sm, removed, f"rolled back by {who}: {trigger.reason or 'no reason given'}")
    # A rollback is urgent: no baking, no alarms, the old fleet goes at once.
    fast = policy.model_copy(
        update={"strategy": "ALL_AT_ONCE", "alarms": False, "wait_interval_s": 0, "termination_wait_s": 0}
    )
    return deploy(clients, settings, endpoint, target, fast, trigger, action="rollback", rolls_back=removed)


def restore_recorded(
    clients: Clients, settings: Settings, endpoint: str, policy: DeploymentPolicy, trigger: Trigger = UNTRACED
) -> RolloutResult:
    """Put the endpoint back on the layout the history last recorded (after a run failed mid-change).

    Waits for a change still in flight to settle first: SageMaker refuses to update an endpoint that
    is Updating. Nothing is rejected: the failed run says nothing about the version it carried.
    """
    started = time.monotonic()
    history = DeploymentHistory(clients.s3, settings, endpoint)
    current = _current(history, endpoint)
    settle(clients.sagemaker, endpoint, policy.wait_seconds)
    outcome, previous, reason = apply_config(
        clients.sagemaker, endpoint, current.endpoint_config_name, None, policy.wait_seconds
    )
    restored = replace(
        current,
        action="restore",
        outcome=outcome,
        previous_config_name=previous,
        failure_reason=reason,
        rolled_back_arn=None,
        override=None,
        run_id=trigger.run_id or None,
        reason=trigger.reason or None,
        seconds=round(time.monotonic() - started, 2),
    )
    return history.append(restored)
