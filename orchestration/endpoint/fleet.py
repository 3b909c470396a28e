"""Put a packaged model behind a SageMaker endpoint with boto3: the plain functions the deploy asset calls.

Everything here is idempotent: the model and the endpoint config are named after the model version,
so deploying the same version twice reuses them, and an endpoint already serving it is left alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from orchestration.settings import Settings


class EndpointSpec(BaseModel):
    """Where and how a model version is served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_name: str = Field("rtinfer-fraud", pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    variant_name: str = Field("primary", pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    instance_type: str = "ml.m5.large"
    instance_count: int = Field(1, ge=1, le=10)
    capture_percentage: int = Field(100, ge=0, le=100)
    wait_seconds: int = Field(600, ge=1)


@dataclass(frozen=True)
class DeploymentResult:
    endpoint_name: str
    endpoint_config_name: str
    model_name: str
    variant_name: str
    model_version: str
    model_data_url: str
    action: str  # created | updated | unchanged
    status: str

    def as_dict(self) -> dict:
        return asdict(self)


def ensure_bucket(s3, bucket: str, region: str) -> None:
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket, **extra)


def upload_artifact(s3, settings: Settings, artifact_path: Path, model_version: str, sha256: str) -> str:
    ensure_bucket(s3, settings.bucket, settings.region)
    key = f"models/{model_version}/model.tar.gz"
    s3.upload_file(str(artifact_path), settings.bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}})
    return f"s3://{settings.bucket}/{key}"


def _exists(describe, **name) -> bool:
    try:
        describe(**name)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            return False
        raise


def ensure_model(sm, settings: Settings, model_name: str, model_data_url: str) -> None:
    if _exists(sm.describe_model, ModelName=model_name):
        return
    sm.create_model(
        ModelName=model_name,
        ExecutionRoleArn=settings.sagemaker_role_arn,
        PrimaryContainer={
            "Image": settings.model_image_uri,
            "ModelDataUrl": model_data_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )


def ensure_endpoint_config(
    sm, settings: Settings, spec: EndpointSpec, config_name: str, model_name: str
) -> None:
    if _exists(sm.describe_endpoint_config, EndpointConfigName=config_name):
        return
    sm.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": spec.variant_name,
                "ModelName": model_name,
                "InitialInstanceCount": spec.instance_count,
                "InstanceType": spec.instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": spec.capture_percentage,
            "DestinationS3Uri": f"s3://{settings.bucket}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "JsonContentTypes": ["application/json"],
                "CsvContentTypes": ["text/csv"],
            },
        },
    )


def deploy_single_variant(
    sm, settings: Settings, spec: EndpointSpec, model_version: str, model_data_url: str
) -> DeploymentResult:
    """Create the endpoint, or switch it to this version's config; wait until it is InService."""
    model_name = model_version
    config_name = f"{spec.endpoint_name}-{model_version}"
    ensure_model(sm, settings, model_name, model_data_url)
    ensure_endpoint_config(sm, settings, spec, config_name, model_name)
    try:
        current = sm.describe_endpoint(EndpointName=spec.endpoint_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationException":
            raise
        current = None
    if current is None:
        sm.create_endpoint(EndpointName=spec.endpoint_name, EndpointConfigName=config_name)
        action = "created"
    elif current["EndpointConfigName"] != config_name or current["EndpointStatus"] == "Failed":
        sm.update_endpoint(EndpointName=spec.endpoint_name, EndpointConfigName=config_name)
        action = "updated"
    else:
        action = "unchanged"
    wait_in_service(sm, spec.endpoint_name, spec.wait_seconds)
    return DeploymentResult(
        endpoint_name=spec.endpoint_name,
        endpoint_config_name=config_name,
        model_name=model_name,
        variant_name=spec.variant_name,
        model_version=model_version,
        model_data_url=model_data_url,
        action=action,
        status="InService",
    )


class EndpointFailed(RuntimeError):
    pass


def wait_in_service(sm, endpoint_name: str, timeout_seconds: int) -> None:
    """boto3's endpoint_in_service waiter, with SageMaker's FailureReason surfaced when it gives up."""
    delay = 1 if timeout_seconds <= 900 else 5
    try:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint_name,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, timeout_seconds // delay)},
        )
    except Exception as error:
        described = sm.describe_endpoint(EndpointName=endpoint_name)
        reason = described.get("FailureReason") or str(error)
        raise EndpointFailed(
            f"endpoint {endpoint_name} is {described['EndpointStatus']}, not InService: {reason}"
        ) from error
