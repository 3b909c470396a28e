"""The serving image comes from the SageMaker SDK's own per-region lookup: a different registry account
per region, the China partition's domain, a clear error for a region without the image, no network and
no credentials needed; and the container's XGBoost is the release the model is trained with."""

import json
import os
import subprocess
import sys

import pytest
import xgboost as xgb

from orchestration.model.images import (
    FRAMEWORK_VERSION,
    UnknownImage,
    framework_image_uri,
    model_image_uri,
    script_mode_environment,
)
from orchestration.settings import Settings


def test_each_region_has_its_own_registry_account():
    uris = {region: framework_image_uri(region) for region in ("us-east-1", "eu-west-1", "ap-southeast-2")}
    accounts = {uri.split(".", 1)[0] for uri in uris.values()}
    assert len(accounts) == 3, uris
    for region, uri in uris.items():
        assert uri.endswith(f".dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:{FRAMEWORK_VERSION}")
    assert (
        framework_image_uri("us-east-1")
        == f"683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:{FRAMEWORK_VERSION}"
    )


def test_the_china_partition_has_its_own_domain():
    assert framework_image_uri("cn-north-1").endswith(
        ".dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.2-0"
    )


def test_a_region_or_version_without_the_image_is_named():
    with pytest.raises(
        UnknownImage, match=r"no SageMaker xgboost 3\.2-0 inference image for region 'xx-nowhere-1'"
    ):
        framework_image_uri("xx-nowhere-1")
    with pytest.raises(UnknownImage, match=r"xgboost 0\.1-9 .*'us-east-1'"):
        framework_image_uri("us-east-1", version="0.1-9")


def test_the_lookup_needs_no_network_and_no_credentials(tmp_path):
    """In a process with no AWS variables, no config files, no instance metadata and every HTTP(S)
    request sent to a closed port, the lookup still answers (from the SDK's bundled config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "PROXY" not in k.upper()}
    closed = "http://127.0.0.1:9"
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        http_proxy=closed,
        https_proxy=closed,
    )
    code = "from orchestration.model.images import framework_image_uri as f; print(f('eu-central-1'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    assert (
        out.stdout.strip()
        == f"492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-xgboost:{FRAMEWORK_VERSION}"
    )


def test_the_container_runs_the_xgboost_release_the_model_is_trained_with():
    major, minor = xgb.__version__.split(".")[:2]
    assert FRAMEWORK_VERSION.split("-")[0] == f"{major}.{minor}", (
        f"models are trained with xgboost {xgb.__version__}: pick the SageMaker XGBoost "
        f"{major}.{minor}-N container in orchestration/model/images.py"
    )


def test_an_explicit_image_wins_and_script_mode_points_at_the_packed_code(tmp_path):
    settings = Settings(env="aws", home=tmp_path, emulator_port=1, region="eu-west-1")
    assert model_image_uri(settings) == framework_image_uri("eu-west-1")
    mine = Settings(env="aws", home=tmp_path, emulator_port=1, region="eu-west-1", model_image_uri="x/y:1")
    assert model_image_uri(mine) == "x/y:1"
    assert script_mode_environment(settings) == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "eu-west-1",
    }
    json.dumps(script_mode_environment(settings))  # plain strings: what a container environment holds
