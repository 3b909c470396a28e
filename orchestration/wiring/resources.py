"""Dagster resources: boto3 clients for the configured environment, and where assets live."""

from __future__ import annotations

import dagster as dg

from orchestration.aws import aws_client
from orchestration.endpoint.names import ENDPOINT_NAME, PACKAGE_GROUP
from orchestration.settings import load_settings
from orchestration.stream.stack import StreamStackSpec
from orchestration.wiring.io_manager import OpenFormatIOManager


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
    predictions_table: str = _STACK.predictions_table
    labels_table: str = _STACK.labels_table
    dead_letter_queue: str = _STACK.dead_letter_queue
    dead_letter_bucket: str = _STACK.dead_letter_bucket
    batch_failure_queue: str = _STACK.batch_failure_queue
    function_name: str = _STACK.function_name


def default_resources() -> dict:
    home = load_settings().home
    return {
        "io_manager": OpenFormatIOManager(base_dir=str(home / "assets")),
        "aws": AwsClients(),
        "quality_floors": ModelQualityFloors(),
        "model_review": ModelReview(),
        "targets": MonitoringTargets(),
    }
