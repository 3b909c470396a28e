"""The model behind a real SageMaker endpoint (the emulator's, locally)."""

from pathlib import Path

import dagster as dg

from orchestration.deployment import deploy_single_variant, upload_artifact
from orchestration.resources import AwsClients
from orchestration.run_config import DeploymentRunConfig
from orchestration.settings import load_settings


@dg.asset(
    group_name="deployment",
    description="Uploads the model artifact, creates or updates the SageMaker endpoint, waits for InService.",
)
def fraud_endpoint(
    context: dg.AssetExecutionContext, config: DeploymentRunConfig, aws: AwsClients, fraud_model: dict
) -> dg.Output[dict]:
    settings = load_settings()
    spec = config.to_library()
    model_data_url = upload_artifact(
        aws.client("s3"),
        settings,
        Path(fraud_model["artifact_path"]),
        fraud_model["model_version"],
        fraud_model["artifact_sha256"],
    )
    context.log.info(f"uploaded {fraud_model['model_version']} to {model_data_url}")
    result = deploy_single_variant(
        aws.client("sagemaker"), settings, spec, fraud_model["model_version"], model_data_url
    )
    context.log.info(f"endpoint {result.endpoint_name} {result.action}, serving {result.model_version}")
    return dg.Output(result.as_dict(), metadata=result.as_dict())
