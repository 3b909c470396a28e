"""SageMaker state written by the release before the typed backends, read into today's records.

That release stored each resource as its wire shape (the Create request plus what Describe adds) in
the tables `sagemaker` (hosting), `sagemaker_registry` and `sagemaker_compilation`. The api modules'
parsers read those shapes, so the conversion below only maps what the backend had added.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from emulator.legacy_tables import Replacement, migrate
from emulator.sagemaker import backend, compilation, registry
from emulator.sagemaker.compilation import CompilationJob
from emulator.sagemaker.compilation_api import parse_job_spec
from emulator.sagemaker.deployment_config import parse_deployment_config
from emulator.sagemaker.hosting_api import parse_config_spec, parse_container, parse_data_capture
from emulator.sagemaker.registry import ModelPackage, PackageGroup
from emulator.sagemaker.registry_api import parse_package_spec
from emulator.sagemaker.resources import DeployedVariant, Deployment, Endpoint, EndpointConfig, Model
from emulator.state import Database
from emulator.typed_json import to_json

Wire = dict[str, Any]

# what the old registry added to a CreateModelPackage request when it stored it
_PACKAGE_DESCRIBED = {
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "CreationTime",
    "LastModifiedTime",
    "ApprovalDescription",
}


def _model(body: Wire) -> Model:
    container = parse_container(body)
    return Model(
        body["ModelName"], body["ModelArn"], container, body.get("ExecutionRoleArn"), body["CreationTime"]
    )


def _config(body: Wire) -> EndpointConfig:
    return EndpointConfig(
        body["EndpointConfigName"], body["EndpointConfigArn"], parse_config_spec(body), body["CreationTime"]
    )


def _deployed_variant(wire: Wire) -> DeployedVariant:
    return DeployedVariant(
        wire["VariantName"],
        wire["ModelName"],
        wire["ModelDataUrl"],
        wire.get("Image", ""),
        dict(wire.get("Environment") or {}),
        wire.get("InstanceType") or "",
        wire["CurrentWeight"],
        wire["DesiredWeight"],
        wire["CurrentInstanceCount"],
        wire["DesiredInstanceCount"],
    )


def _endpoint(body: Wire) -> Endpoint:
    deployed = body["Deployed"]
    last = body.get("LastDeploymentConfig")
    # an update in progress is not kept: on start the endpoint comes back on the fleet that was serving
    return Endpoint(
        body["EndpointName"],
        body["EndpointArn"],
        body["EndpointConfigName"],
        body["EndpointStatus"],
        body["CreationTime"],
        body["LastModifiedTime"],
        Deployment(
            tuple(map(_deployed_variant, deployed["ProductionVariants"])),
            tuple(map(_deployed_variant, deployed.get("ShadowProductionVariants") or [])),
            parse_data_capture(deployed.get("DataCaptureConfig")),
        ),
        failure_reason=body.get("FailureReason"),
        last_deployment_config=parse_deployment_config(last, None) if last else None,
    )


_HOSTING = {"model": _model, "config": _config, "endpoint": _endpoint}


def _hosting_row(row: sqlite3.Row) -> tuple:
    return row["kind"], row["name"], to_json(_HOSTING[row["kind"]](json.loads(row["body"])))


def _group(body: Wire) -> PackageGroup:
    return PackageGroup(
        body["ModelPackageGroupName"],
        body["ModelPackageGroupArn"],
        body.get("ModelPackageGroupDescription", ""),
        body["CreationTime"],
        body["LatestVersion"],
    )


def _package(body: Wire) -> ModelPackage:
    request = {key: value for key, value in body.items() if key not in _PACKAGE_DESCRIBED}
    return ModelPackage(
        parse_package_spec(request),
        body["ModelPackageVersion"],
        body["ModelPackageArn"],
        body["ModelApprovalStatus"],
        body["CreationTime"],
        body["LastModifiedTime"],
        body.get("ApprovalDescription"),
        body.get("CustomerMetadataProperties"),
    )


def _registry_row(row: sqlite3.Row) -> tuple:
    body = json.loads(row["body"])
    record = _group(body) if row["kind"] == "group" else _package(body)
    return row["kind"], row["name"], to_json(record)


def _job(body: Wire) -> CompilationJob:
    return CompilationJob(
        parse_job_spec(body),
        body["CompilationJobArn"],
        body["ModelArtifacts"]["S3ModelArtifacts"],
        body["CreationTime"],
        body["LastModifiedTime"],
        body["CompilationJobStatus"],
        body.get("CompilationStartTime"),
        body.get("CompilationEndTime"),
        body.get("FailureReason"),
        (body.get("ModelDigests") or {}).get("ArtifactDigest"),
    )


def _compilation_row(row: sqlite3.Row) -> tuple:
    return row["name"], to_json(_job(json.loads(row["body"])))


REPLACEMENTS = (
    Replacement("sagemaker", backend.TABLE, backend.SCHEMA, _hosting_row),
    Replacement("sagemaker_registry", registry.TABLE, registry.SCHEMA, _registry_row),
    Replacement("sagemaker_compilation", compilation.TABLE, compilation.SCHEMA, _compilation_row),
)


def migrate_sagemaker_state(db: Database) -> None:
    for replacement in REPLACEMENTS:
        migrate(db, replacement)
