"""Where the product runs and keeps its state, read from the environment once per call.

RTINFER_ENV=local (default) points every boto3 client at the emulator; RTINFER_ENV=aws at AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EMULATOR_PORT = 4566
DEFAULT_REGION = "us-east-1"
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/rtinfer-sagemaker"
# SageMaker's XGBoost framework container (script mode runs serving/inference.py inside it).
XGBOOST_IMAGE_URI = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:1.7-1"


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    emulator_port: int
    region: str
    bucket: str = "rtinfer-artifacts"
    sagemaker_role_arn: str = LOCAL_ROLE_ARN
    model_image_uri: str = XGBOOST_IMAGE_URI.format(region=DEFAULT_REGION)

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"


def load_settings() -> Settings:
    env = os.environ.get("RTINFER_ENV", "local").strip().lower()
    if env not in ("local", "aws"):
        raise ValueError(f"RTINFER_ENV must be 'local' or 'aws', got {env!r}")
    port_text = os.environ.get("RTINFER_EMULATOR_PORT", str(DEFAULT_EMULATOR_PORT))
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"RTINFER_EMULATOR_PORT must be an integer, got {port_text!r}") from None
    home = Path(os.environ.get("RTINFER_HOME", ".rtinfer")).resolve()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    return Settings(
        env=env,
        home=home,
        emulator_port=port,
        region=region,
        bucket=os.environ.get("RTINFER_BUCKET", "rtinfer-artifacts"),
        # Locally any well-formed ARN is accepted; on AWS these name real resources.
        sagemaker_role_arn=os.environ.get("RTINFER_SAGEMAKER_ROLE_ARN", LOCAL_ROLE_ARN),
        model_image_uri=os.environ.get("RTINFER_MODEL_IMAGE_URI", XGBOOST_IMAGE_URI.format(region=region)),
    )
