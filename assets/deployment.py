"""The registered model behind a real SageMaker endpoint (the emulator's, locally)."""

import dagster as dg

from orchestration.endpoint.actions import run_deploy
from orchestration.endpoint.strategies import Clients
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients
from orchestration.wiring.run_config import DeployRunConfig


@dg.asset(
    group_name="deployment",
    pool="sagemaker-endpoint",
    description="Deploys the registered version (blue/green when the endpoint exists, with alarm-driven "
    "auto-rollback); only Approved versions are deployed.",
)
def fraud_endpoint(
    context: dg.AssetExecutionContext, config: DeployRunConfig, aws: AwsClients, registered_model: dict
) -> dg.Output[dict]:
    deploy = config.to_library().model_copy(update={"model_version": registered_model["model_version"]})
    clients = Clients(aws.client("sagemaker"), aws.client("cloudwatch"), aws.client("s3"))
    result = run_deploy(clients, load_settings(), deploy)
    context.log.info(
        f"endpoint {result.endpoint_name}: {result.outcome}, serving {result.production_version}"
    )
    if result.outcome == "rolled_back":
        raise dg.Failure(
            f"deployment of {deploy.model_version} was rolled back: {result.failure_reason}",
            metadata=result.as_metadata(),
        )
    return dg.Output(result.as_metadata(), metadata=result.as_metadata())
