"""Where the product runs, read from the environment: local is the default, aws is accepted in any case
and needs the resources it cannot create named, and a bad value is refused with a message naming the
variable and the value."""

from pathlib import Path

import pytest

from orchestration.settings import (
    DEFAULT_EMULATOR_PORT,
    DEFAULT_REGION,
    LOCAL_ROLE_ARN,
    SettingsError,
    load_settings,
)

AWS_NAMED = {
    "RTINFER_BUCKET": "my-bucket",
    "RTINFER_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker",
    "RTINFER_LAMBDA_ROLE_ARN": "arn:aws:iam::123456789012:role/consumer",
}

VARIABLES = (
    "RTINFER_ENV",
    "RTINFER_EMULATOR_PORT",
    "RTINFER_HOME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RTINFER_BUCKET",
    "RTINFER_SAGEMAKER_ROLE_ARN",
    "RTINFER_LAMBDA_ROLE_ARN",
    "RTINFER_MODEL_IMAGE_URI",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_local_is_the_default_and_points_at_the_default_emulator_port(tmp_path):
    settings = load_settings()
    assert settings.env == "local" and settings.is_local
    assert settings.emulator_port == DEFAULT_EMULATOR_PORT
    assert settings.emulator_url == f"http://127.0.0.1:{DEFAULT_EMULATOR_PORT}"
    assert settings.region == DEFAULT_REGION
    assert settings.bucket == "rtinfer-artifacts"
    assert settings.sagemaker_role_arn == LOCAL_ROLE_ARN
    assert settings.home == (tmp_path / ".rtinfer").resolve()


def test_aws_is_accepted_whatever_its_case_and_surrounding_space(monkeypatch):
    monkeypatch.setenv("RTINFER_ENV", "  AWS ")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    for name, value in AWS_NAMED.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.env == "aws" and not settings.is_local
    assert settings.bucket == "my-bucket" and settings.region == "eu-west-1"
    assert settings.sagemaker_role_arn.endswith("role/sagemaker")
    assert settings.lambda_role_arn.endswith("role/consumer")


def test_aws_names_every_missing_resource_variable(monkeypatch):
    monkeypatch.setenv("RTINFER_ENV", "aws")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("RTINFER_BUCKET", "my-bucket")
    monkeypatch.setenv("RTINFER_LAMBDA_ROLE_ARN", " ")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "RTINFER_SAGEMAKER_ROLE_ARN (the IAM role SageMaker assumes" in message
    assert "RTINFER_LAMBDA_ROLE_ARN (the IAM role of the stream consumer" in message
    assert "RTINFER_BUCKET" not in message


def test_aws_without_any_region_says_which_variable_to_set(monkeypatch, tmp_path):
    monkeypatch.setenv("RTINFER_ENV", "aws")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # no profile region either
    for name, value in AWS_NAMED.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="RTINFER_ENV=aws needs a region: set AWS_REGION"):
        load_settings()


def test_an_unknown_env_names_the_variable_and_the_value(monkeypatch):
    monkeypatch.setenv("RTINFER_ENV", "staging")
    with pytest.raises(ValueError, match=r"RTINFER_ENV.*'staging'"):
        load_settings()


def test_a_non_integer_port_names_the_variable_and_the_value(monkeypatch):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", "45x")
    with pytest.raises(ValueError, match=r"RTINFER_EMULATOR_PORT.*'45x'"):
        load_settings()


def test_overrides_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", "5001")
    monkeypatch.setenv("RTINFER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("RTINFER_BUCKET", "my-bucket")
    monkeypatch.setenv("RTINFER_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
    settings = load_settings()
    assert settings.emulator_url == "http://127.0.0.1:5001"
    assert settings.home == Path(tmp_path / "state").resolve()
    assert settings.region == "eu-west-1"
    assert settings.bucket == "my-bucket"
    assert settings.sagemaker_role_arn == "arn:aws:iam::123456789012:role/r"
    # Unset, the model image is looked up for the region (orchestration.model.images).
    assert settings.model_image_uri is None


def test_aws_region_wins_over_the_default_region(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert load_settings().region == "ap-south-1"


def test_an_explicit_model_image_is_kept(monkeypatch):
    monkeypatch.setenv("RTINFER_MODEL_IMAGE_URI", "example.com/model:1")
    assert load_settings().model_image_uri == "example.com/model:1"
