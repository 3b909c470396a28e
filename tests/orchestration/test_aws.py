"""The one place clients come from: locally they point at the emulator port from the environment and
really reach it; on AWS they keep boto3's own endpoint."""

import pytest

from orchestration.aws import aws_client, client_config
from orchestration.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("RTINFER_ENV", "RTINFER_EMULATOR_PORT", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


def test_a_local_client_reaches_the_emulator_on_the_configured_port(emulator, monkeypatch):
    monkeypatch.setenv("RTINFER_ENV", "local")
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    dynamodb = aws_client("dynamodb")
    assert dynamodb.meta.endpoint_url == f"http://127.0.0.1:{emulator.port}"
    assert dynamodb.meta.region_name == "us-east-1"
    assert "TableNames" in dynamodb.list_tables()  # a real round trip to the emulator


def test_explicit_settings_win_over_the_environment(emulator, monkeypatch):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", "1")
    sqs = aws_client("sqs", emulator.settings)
    assert sqs.meta.endpoint_url == emulator.settings.emulator_url
    url = sqs.create_queue(QueueName="aws-client-test")["QueueUrl"]
    assert sqs.get_queue_url(QueueName="aws-client-test")["QueueUrl"] == url


def test_an_aws_client_keeps_the_real_endpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    settings = Settings(env="aws", home=tmp_path, emulator_port=4566, region="eu-west-1")
    client = aws_client("sqs", settings)
    assert "127.0.0.1" not in client.meta.endpoint_url
    assert "eu-west-1" in client.meta.endpoint_url and client.meta.endpoint_url.startswith("https://")


def test_clients_use_path_style_s3_and_bounded_retries(emulator):
    s3 = aws_client("s3", emulator.settings)
    assert s3.meta.config.s3["addressing_style"] == "path"
    assert s3.meta.config.retries["total_max_attempts"] == 3
    custom = client_config(connect_timeout=1, read_timeout=2, max_attempts=7)
    assert (custom.connect_timeout, custom.read_timeout) == (1, 2)
    assert custom.retries == {"mode": "standard", "total_max_attempts": 7}


def test_clients_validate_their_requests_client_side(emulator):
    """botocore's parameter validation stays on for the product's clients: a request the model refuses
    never leaves the process (the suite's model guard validates the consumer's unvalidated stores)."""
    from botocore.exceptions import ParamValidationError

    sqs = aws_client("sqs", emulator.settings)
    with pytest.raises(ParamValidationError, match="ReceiptHandle"):
        sqs.delete_message(QueueUrl=f"{emulator.settings.emulator_url}/000000000000/q", ReceiptHandle=7)
