"""Where the product runs and keeps its state, read from the environment once per call.

RTINFER_ENV=local (default) points every boto3 client at the emulator; RTINFER_ENV=aws at AWS, or at
whatever the standard AWS_ENDPOINT_URL names (boto3 reads it). On AWS the resources the product does
not create itself must be named: the bucket, SageMaker's execution role and the consumer function's
role; a missing one is refused at once, naming the variable, not on the first AWS call that needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EMULATOR_PORT = 4566
DEFAULT_REGION = "us-east-1"
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/rtinfer-sagemaker"
LOCAL_LAMBDA_ROLE_ARN = "arn:aws:iam::000000000000:role/rtinfer-consumer"
LOCAL_BUCKET = "rtinfer-artifacts"
# Needed on AWS: (variable, what it names).
AWS_REQUIRED = (
    ("RTINFER_BUCKET", "the S3 bucket for artifacts, asset values, reports and Dagster's compute logs"),
    ("RTINFER_SAGEMAKER_ROLE_ARN", "the IAM role SageMaker assumes for models and compilation jobs"),
    ("RTINFER_LAMBDA_ROLE_ARN", "the IAM role of the stream consumer function"),
)


class SettingsError(ValueError):
    """The environment does not say where or how to run; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    emulator_port: int
    region: str
    bucket: str = LOCAL_BUCKET
    sagemaker_role_arn: str = LOCAL_ROLE_ARN
    lambda_role_arn: str = LOCAL_LAMBDA_ROLE_ARN
    # RTINFER_MODEL_IMAGE_URI; unset, the serving image is SageMaker's XGBoost image for the region
    # (orchestration.model.images resolves it).
    model_image_uri: str | None = None
    # RTINFER_ASSET_STORAGE: where asset values live, "s3" (the bucket, through dagster-aws) or "local"
    # (RTINFER_HOME/assets, for one machine only).
    asset_storage: str = "s3"

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"


def _region(env: str) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region or env == "local":
        return region or DEFAULT_REGION
    import boto3  # on AWS the region may also come from the profile (~/.aws/config)

    region = boto3.session.Session().region_name
    if not region:
        raise SettingsError("RTINFER_ENV=aws needs a region: set AWS_REGION (or AWS_DEFAULT_REGION)")
    return region


def _aws_resources() -> dict[str, str]:
    missing = [f"{name} ({what})" for name, what in AWS_REQUIRED if not os.environ.get(name, "").strip()]
    if missing:
        raise SettingsError("RTINFER_ENV=aws needs " + "; ".join(missing))
    return {name: os.environ[name].strip() for name, _ in AWS_REQUIRED}


def load_settings() -> Settings:
    env = os.environ.get("RTINFER_ENV", "local").strip().lower()
    if env not in ("local", "aws"):
        raise SettingsError(f"RTINFER_ENV must be 'local' or 'aws', got {env!r}")
    port_text = os.environ.get("RTINFER_EMULATOR_PORT", str(DEFAULT_EMULATOR_PORT))
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"RTINFER_EMULATOR_PORT must be an integer, got {port_text!r}") from None
    home = Path(os.environ.get("RTINFER_HOME", ".rtinfer")).resolve()
    storage = os.environ.get("RTINFER_ASSET_STORAGE", "s3").strip().lower()
    if storage not in ("s3", "local"):
        raise SettingsError(f"RTINFER_ASSET_STORAGE must be 's3' or 'local', got {storage!r}")
    if env == "aws":
        named = _aws_resources()
    else:  # locally any well-formed ARN is accepted and the emulator holds every bucket
        named = {
            "RTINFER_BUCKET": os.environ.get("RTINFER_BUCKET", LOCAL_BUCKET),
            "RTINFER_SAGEMAKER_ROLE_ARN": os.environ.get("RTINFER_SAGEMAKER_ROLE_ARN", LOCAL_ROLE_ARN),
            "RTINFER_LAMBDA_ROLE_ARN": os.environ.get("RTINFER_LAMBDA_ROLE_ARN", LOCAL_LAMBDA_ROLE_ARN),
        }
    return Settings(
        env=env,
        home=home,
        emulator_port=port,
        region=_region(env),
        bucket=named["RTINFER_BUCKET"],
        sagemaker_role_arn=named["RTINFER_SAGEMAKER_ROLE_ARN"],
        lambda_role_arn=named["RTINFER_LAMBDA_ROLE_ARN"],
        model_image_uri=os.environ.get("RTINFER_MODEL_IMAGE_URI") or None,
        asset_storage=storage,
    )
