"""The one place boto3 clients come from.

Locally the clients talk to the emulator (it checks the local credentials only in presigned URLs); on
AWS they use the normal credential chain and boto3's own endpoint resolution, so the standard
AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_<SERVICE>) redirects them like any boto3 client. S3 clients
sign with SigV4 everywhere, presigned URLs included (botocore would presign with the legacy SigV2
otherwise). Business code never branches on
the environment: it asks for a client.
"""

from __future__ import annotations

import boto3
from botocore.config import Config

from orchestration.settings import Settings, load_settings

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client_config(connect_timeout: float = 5, read_timeout: float = 60, max_attempts: int = 3) -> Config:
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        s3={"addressing_style": "path"},
    )


def aws_client(service: str, settings: Settings | None = None, config: Config | None = None):
    """A boto3 client for `service` in the configured environment."""
    settings = settings or load_settings()
    config = config or client_config()
    if service == "s3":
        config = config.merge(Config(signature_version="s3v4"))
    return boto3.client(service, config=config, **connection_kwargs(settings))


def connection_kwargs(settings: Settings) -> dict[str, str]:
    """Region, and locally the emulator's endpoint and credentials: what any AWS client of the product
    (boto3's, or one dagster-aws builds) is given. On AWS nothing else, so boto3 resolves the rest."""
    kwargs = {"region_name": settings.region}
    if settings.is_local:
        kwargs.update(endpoint_url=settings.emulator_url, **LOCAL_CREDENTIALS)
    return kwargs
