"""Dagster resources: boto3 clients for the configured environment, and where assets live."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from orchestration.aws import aws_client, connection_kwargs
from orchestration.endpoint.names import ENDPOINT_NAME, PACKAGE_GROUP
from orchestration.settings import Settings, load_settings
from orchestration.stream.stack import StreamStackSpec
from orchestration.wiring.io_manager import OpenFormatIOManager
from orchestration.wiring.s3_io_manager import S3OpenFormatIOManager


class AwsClients(dg.ConfigurableResource):
    """boto3 clients pointed at the emulator (RTINFER_ENV=local, the default) or at AWS."""

    def client(self, service: str):
        return aws_client(service)


class ModelQualityFloors(dg.ConfigurableResource):
    """Below these the model check fails and the model goes no further."""

    min_roc_auc: float = 0.80
    min_average_precision: float = 0.30
    min_recall_at_threshold: float = 0.30


class ModelReview(dg.ConfigurableResource):
    """A model that passes its floors but not this review is registered, awaiting manual approval."""

    min_scenario_recall: float = 0.05
    max_alerts_per_fraud: float = 3.0  # the review team's capacity, relative to the fraud there is
    model_package_group: str = PACKAGE_GROUP


_STACK = StreamStackSpec()  # the stream path's default names


class MonitoringTargets(dg.ConfigurableResource):
    """Which endpoint, streams, tables, queues and function the sensors, monitoring assets and DLQ
    jobs watch."""

    endpoint_name: str = ENDPOINT_NAME
    input_stream: str = _STACK.input_stream
    output_stream: str = _STACK.output_stream
    audit_bucket: str = _STACK.audit_bucket
    feature_state_table: str = _STACK.feature_state_table
    labels_table: str = _STACK.labels_table
    dead_letter_queue: str = _STACK.dead_letter_queue
    dead_letter_bucket: str = _STACK.dead_letter_bucket
    batch_failure_queue: str = _STACK.batch_failure_queue
    function_name: str = _STACK.function_name


def s3_resource(settings: Settings) -> S3Resource:
    """dagster-aws's S3 resource for the configured environment (the emulator's S3 locally)."""
    return S3Resource(**connection_kwargs(settings))


def asset_io_manager(settings: Settings) -> dg.ConfigurableIOManager:
    if settings.asset_storage == "local":
        return OpenFormatIOManager(base_dir=str(settings.home / "assets"))
    return S3OpenFormatIOManager(s3=s3_resource(settings), bucket=settings.bucket, prefix="assets")


def default_resources() -> dict:
    settings = load_settings()
    return {
        "io_manager": asset_io_manager(settings),
        "aws": AwsClients(),
        "quality_floors": ModelQualityFloors(),
        "model_review": ModelReview(),
        "targets": MonitoringTargets(),
    }
