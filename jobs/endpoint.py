"""Jobs that change an endpoint, launchable from the UI with a typed config form.

Every op that changes an endpoint is in the `sagemaker-endpoint` concurrency pool; the instance's
dagster.yaml limits pools to one op at a time, so two runs never change an endpoint at once.
Each run records what it changed as metadata, and the change carries the run's id and reason (the
`rtinfer/reason` tag a sensor sets, or who launched it) into the deployment history.
"""

import dagster as dg

from jobs.tags import REASON
from orchestration.endpoint.actions import (
    run_approval,
    run_deploy,
    run_promote,
    run_rollback,
    run_set_traffic,
    run_shadow,
)
from orchestration.endpoint.history import Trigger
from orchestration.endpoint.strategies import Clients
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients
from orchestration.wiring.run_config import (
    ABTrafficRunConfig,
    ApprovalRunConfig,
    DeployRunConfig,
    PromoteRunConfig,
    RollbackRunConfig,
    ShadowRunConfig,
)

ENDPOINT_POOL = "sagemaker-endpoint"


def _clients(aws: AwsClients) -> Clients:
    return Clients(aws.client("sagemaker"), aws.client("cloudwatch"), aws.client("s3"))


def _trigger(context: dg.OpExecutionContext) -> Trigger:
    tags = context.run.tags
    reason = tags.get(REASON) or f"launched by {tags.get('dagster/user', 'a person')} from {context.job_name}"
    return Trigger(context.run_id, reason)


def _record(context: dg.OpExecutionContext, result) -> dict:
    context.add_output_metadata(result.as_metadata())
    context.log.info(f"{result.action} on {result.endpoint_name}: {result.outcome}")
    if result.outcome == "rolled_back":
        context.log.warning(f"rolled back: {result.failure_reason}")
    return result.as_metadata()


@dg.op(pool=ENDPOINT_POOL)
def deploy_version(context: dg.OpExecutionContext, config: DeployRunConfig, aws: AwsClients) -> dict:
    return _record(
        context, run_deploy(_clients(aws), load_settings(), config.to_library(), _trigger(context))
    )


@dg.op(pool=ENDPOINT_POOL)
def shadow_version(context: dg.OpExecutionContext, config: ShadowRunConfig, aws: AwsClients) -> dict:
    return _record(
        context, run_shadow(_clients(aws), load_settings(), config.to_library(), _trigger(context))
    )


@dg.op(pool=ENDPOINT_POOL)
def split_traffic(context: dg.OpExecutionContext, config: ABTrafficRunConfig, aws: AwsClients) -> dict:
    return _record(
        context, run_set_traffic(_clients(aws), load_settings(), config.to_library(), _trigger(context))
    )


@dg.op(pool=ENDPOINT_POOL)
def promote_candidate(context: dg.OpExecutionContext, config: PromoteRunConfig, aws: AwsClients) -> dict:
    return _record(
        context, run_promote(_clients(aws), load_settings(), config.to_library(), _trigger(context))
    )


@dg.op(pool=ENDPOINT_POOL)
def roll_back(context: dg.OpExecutionContext, config: RollbackRunConfig, aws: AwsClients) -> dict:
    return _record(
        context, run_rollback(_clients(aws), load_settings(), config.to_library(), _trigger(context))
    )


@dg.op
def decide_approval(context: dg.OpExecutionContext, config: ApprovalRunConfig, aws: AwsClients) -> dict:
    version = run_approval(aws.client("sagemaker"), config.to_library())
    record = {"package_arn": version.arn, "model_version": version.model_version, "approval": version.status}
    context.add_output_metadata(record)
    return record


@dg.job(
    description="Blue/green deploy of a registered, Approved version (all at once, canary or linear) "
    "with alarm-driven auto-rollback."
)
def deploy_model():
    deploy_version()


@dg.job(description="Run a registered version as a shadow variant on a copy of the traffic.")
def shadow_model():
    shadow_version()


@dg.job(description="A/B: serve a registered version beside production with a share of the traffic.")
def set_traffic():
    split_traffic()


@dg.job(description="Make the current candidate the production variant (blue/green).")
def promote():
    promote_candidate()


@dg.job(description="Drop the candidate, or go back to the previous production version.")
def rollback():
    roll_back()


@dg.job(description="Approve or reject a registered model version.")
def approve_model_version():
    decide_approval()


ENDPOINT_JOBS = [deploy_model, shadow_model, set_traffic, promote, rollback, approve_model_version]
