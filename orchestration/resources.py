"""Dagster resources: boto3 clients for the configured environment, and where assets live."""

from __future__ import annotations

import dagster as dg

from orchestration.aws import aws_client
from orchestration.io_manager import OpenFormatIOManager
from orchestration.settings import load_settings


class AwsClients(dg.ConfigurableResource):
    """boto3 clients pointed at the emulator (RTINFER_ENV=local, the default) or at AWS."""

    def client(self, service: str):
        return aws_client(service)


class ModelQualityFloors(dg.ConfigurableResource):
    """Below these the model check fails and the model goes no further."""

    min_roc_auc: float = 0.80
    min_average_precision: float = 0.30
    min_recall_at_threshold: float = 0.30


def default_resources() -> dict:
    home = load_settings().home
    return {
        "io_manager": OpenFormatIOManager(base_dir=str(home / "assets")),
        "aws": AwsClients(),
        "quality_floors": ModelQualityFloors(),
    }
