"""Where the product runs, read from the environment: local is the default, aws is accepted in any case,
and a bad value is refused with a message naming the variable and the value."""

from pathlib import Path

import pytest

from orchestration.settings import (
    DEFAULT_EMULATOR_PORT,
    DEFAULT_REGION,
    LOCAL_ROLE_ARN,
    load_settings,
)

VARIABLES = (
    "RTINFER_ENV",
    "RTINFER_EMULATOR_PORT",
    "RTINFER_HOME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RTINFER_BUCKET",
    "RTINFER_SAGEMAKER_ROLE_ARN",
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
    settings = load_settings()
    assert settings.env == "aws" and not settings.is_local


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
    # The model image follows the region unless it is given.
    assert settings.model_image_uri.startswith("683313688378.dkr.ecr.eu-west-1.amazonaws.com/")


def test_aws_region_wins_over_the_default_region(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert load_settings().region == "ap-south-1"


def test_an_explicit_model_image_is_kept(monkeypatch):
    monkeypatch.setenv("RTINFER_MODEL_IMAGE_URI", "example.com/model:1")
    assert load_settings().model_image_uri == "example.com/model:1"
