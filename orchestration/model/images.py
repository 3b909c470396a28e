"""The serving container: SageMaker's XGBoost framework image for the region, and its script-mode contract.

The image lives in a different ECR registry account per region (and a different domain in the China
partitions), so its URI comes from the SageMaker SDK's image-URI lookup, which reads the SDK's
bundled per-region config: no network, no credentials. The SDK is large (seconds to import), so it
is imported only here, when a model is registered.

Script mode: the container imports the module SAGEMAKER_PROGRAM names from SAGEMAKER_SUBMIT_DIRECTORY,
here the code/ folder packed inside model.tar.gz (which the container unpacks to /opt/ml/model), and
calls its model_fn/input_fn/predict_fn/output_fn (see serving.artifact for the layout).
"""

from __future__ import annotations

from functools import cache

from orchestration.settings import Settings
from serving.artifact import CODE_DIR, ENTRY_POINT

FRAMEWORK = "xgboost"
# The container's XGBoost release: the same minor release as the xgboost the model is trained with
# (tests/orchestration/model/test_images.py holds them together), since XGBoost reads models saved by
# older releases, not newer ones.
FRAMEWORK_VERSION = "3.2-0"
# Where the container unpacks model.tar.gz.
CONTAINER_MODEL_DIR = "/opt/ml/model"


class UnknownImage(ValueError):
    """The SDK has no image for the asked framework version in that region."""


@cache
def framework_image_uri(region: str, framework: str = FRAMEWORK, version: str = FRAMEWORK_VERSION) -> str:
    """The ECR URI of SageMaker's `framework` inference image at `version` in `region`."""
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve(framework, region=region, version=version, image_scope="inference")
    except ValueError as exc:
        raise UnknownImage(
            f"no SageMaker {framework} {version} inference image for region {region!r}: {exc}"
        ) from None


def model_image_uri(settings: Settings) -> str:
    """RTINFER_MODEL_IMAGE_URI when given, else SageMaker's XGBoost image for the settings' region."""
    return settings.model_image_uri or framework_image_uri(settings.region)


def script_mode_environment(settings: Settings) -> dict[str, str]:
    """The container environment that makes SageMaker's XGBoost container serve code/inference.py."""
    from sagemaker.core.constants import (
        CONTAINER_LOG_LEVEL_PARAM_NAME,
        DIR_PARAM_NAME,
        SAGEMAKER_REGION_PARAM_NAME,
        SCRIPT_PARAM_NAME,
    )

    return {
        SCRIPT_PARAM_NAME.upper(): ENTRY_POINT,
        DIR_PARAM_NAME.upper(): f"{CONTAINER_MODEL_DIR}/{CODE_DIR}",
        CONTAINER_LOG_LEVEL_PARAM_NAME.upper(): "20",
        SAGEMAKER_REGION_PARAM_NAME.upper(): settings.region,
    }
