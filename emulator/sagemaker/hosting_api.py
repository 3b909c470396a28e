"""SageMaker hosting on the wire: models, endpoint configs and endpoints, parsed into the backend's typed
records and rendered back in SageMaker's shapes."""

from __future__ import annotations

from typing import Any

from emulator.protocol.errors import validation_exception
from emulator.protocol.json_rpc import JsonDispatcher
from emulator.protocol.pagination import paginate
from emulator.sagemaker.backend import SageMakerBackend, VariantChange
from emulator.sagemaker.deployment_config import parse_deployment_config, render_deployment_config
from emulator.sagemaker.resources import (
    Container,
    DataCapture,
    DeployedVariant,
    Endpoint,
    EndpointConfig,
    EndpointConfigSpec,
    Model,
    VariantSpec,
)
from emulator.sagemaker.validation import (
    check_data_capture,
    check_instance_count,
    check_variants,
    check_weight,
    constraint_error,
)

Params = dict[str, Any]


def parse_container(params: Params) -> Container:
    containers = params.get("Containers") or []
    if len(containers) > 1:
        raise validation_exception(
            f"Containers has {len(containers)} entries; this emulator serves single-container models"
        )
    wire = params.get("PrimaryContainer") or (containers[0] if containers else {})
    return Container(
        wire.get("Image", ""),
        wire.get("ModelDataUrl", ""),
        dict(wire.get("Environment") or {}),
        wire.get("ModelPackageName"),
    )


def _model(model: Model) -> Params:
    container = model.container
    primary: Params = {"ModelDataUrl": container.model_data_url, "Environment": container.environment}
    if container.image:
        primary["Image"] = container.image
    if container.model_package_name:
        primary["ModelPackageName"] = container.model_package_name
    described = {
        "ModelName": model.name,
        "PrimaryContainer": primary,
        "ModelArn": model.arn,
        "CreationTime": model.creation_time,
    }
    if model.execution_role_arn:
        described["ExecutionRoleArn"] = model.execution_role_arn
    return described


def _variant_spec(wire: Params) -> VariantSpec:
    return VariantSpec(
        wire["VariantName"],
        wire.get("ModelName", ""),
        float(wire.get("InitialVariantWeight", 1.0)),
        wire["InitialInstanceCount"],
        wire["InstanceType"],
    )


def parse_data_capture(wire: Params | None) -> DataCapture | None:
    if not wire:
        return None
    header = wire.get("CaptureContentTypeHeader") or {}
    return DataCapture(
        wire.get("EnableCapture", True),
        wire["InitialSamplingPercentage"],
        wire["DestinationS3Uri"],
        tuple(option["CaptureMode"] for option in wire["CaptureOptions"]),
        tuple(header.get("JsonContentTypes") or ()),
        tuple(header.get("CsvContentTypes") or ()),
        wire.get("KmsKeyId"),
    )


def parse_config_spec(params: Params) -> EndpointConfigSpec:
    production = params.get("ProductionVariants") or []
    shadow = params.get("ShadowProductionVariants") or []
    check_variants(production, shadow)
    check_data_capture(params.get("DataCaptureConfig"))
    return EndpointConfigSpec(
        tuple(map(_variant_spec, production)),
        tuple(map(_variant_spec, shadow)),
        parse_data_capture(params.get("DataCaptureConfig")),
    )


def _config_variant(variant: VariantSpec) -> Params:
    return {
        "VariantName": variant.name,
        "ModelName": variant.model_name,
        "InitialInstanceCount": variant.initial_instance_count,
        "InstanceType": variant.instance_type,
        "InitialVariantWeight": variant.initial_weight,
    }


def _config(config: EndpointConfig) -> Params:
    spec = config.spec
    described: Params = {
        "EndpointConfigName": config.name,
        "EndpointConfigArn": config.arn,
        "CreationTime": config.creation_time,
        "ProductionVariants": [_config_variant(v) for v in spec.production],
    }
    if spec.shadow:
        described["ShadowProductionVariants"] = [_config_variant(v) for v in spec.shadow]
    capture = spec.data_capture
    if capture:
        described["DataCaptureConfig"] = {
            "EnableCapture": capture.enabled,
            "InitialSamplingPercentage": capture.sampling_percentage,
            "DestinationS3Uri": capture.destination_s3_uri,
            "CaptureOptions": [{"CaptureMode": mode} for mode in capture.modes],
        }
        if capture.kms_key_id:
            described["DataCaptureConfig"]["KmsKeyId"] = capture.kms_key_id
        header = {
            key: list(types)
            for key, types in (
                ("JsonContentTypes", capture.json_content_types),
                ("CsvContentTypes", capture.csv_content_types),
            )
            if types
        }
        if header:
            described["DataCaptureConfig"]["CaptureContentTypeHeader"] = header
    return described


def _variant_summary(variant: DeployedVariant, weight_factor: float = 1.0) -> Params:
    return {
        "VariantName": variant.name,
        "CurrentWeight": variant.current_weight * weight_factor,
        "DesiredWeight": variant.desired_weight,
        "CurrentInstanceCount": variant.current_instance_count,
        "DesiredInstanceCount": variant.desired_instance_count,
        "DeployedImages": [{"SpecifiedImage": variant.image, "ResolvedImage": variant.image}],
    }


def _endpoint(endpoint: Endpoint) -> Params:
    described: Params = {
        "EndpointName": endpoint.name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.config_name,
        "EndpointStatus": endpoint.status,
        "CreationTime": endpoint.creation_time,
        "LastModifiedTime": endpoint.last_modified_time,
    }
    if endpoint.failure_reason:
        described["FailureReason"] = endpoint.failure_reason
    if endpoint.last_deployment_config:
        described["LastDeploymentConfig"] = render_deployment_config(endpoint.last_deployment_config)
    deployed, pending = endpoint.deployed, endpoint.pending
    # mid-deployment, blue's weights are scaled down by the share green already takes
    green_share = pending.share if pending else 0.0
    described["ProductionVariants"] = [_variant_summary(v, 1 - green_share) for v in deployed.production]
    if pending:
        status = [{"Status": pending.phase, "StartTime": pending.start_time}]
        described["PendingDeploymentSummary"] = {
            "EndpointConfigName": pending.config_name,
            "StartTime": pending.start_time,
            "ProductionVariants": [
                {**_variant_summary(v, green_share), "VariantStatus": status} for v in pending.variants
            ],
        }
    if deployed.shadow:
        described["ShadowProductionVariants"] = [_variant_summary(v) for v in deployed.shadow]
    capture = deployed.data_capture
    if capture:
        described["DataCaptureConfig"] = {
            "EnableCapture": capture.enabled,
            "CaptureStatus": "Started" if capture.enabled else "Stopped",
            "CurrentSamplingPercentage": capture.sampling_percentage,
            "DestinationS3Uri": capture.destination_s3_uri,
            # required in DescribeEndpoint's model: the key given, or empty when the data is not
            # encrypted with a customer key
            "KmsKeyId": capture.kms_key_id or "",
        }
    return described


def _variant_change(item: Params, index: int) -> VariantChange:
    where = f"desiredWeightsAndCapacities.{index}.member"
    name = item.get("VariantName")
    if not name:
        raise constraint_error(name, f"{where}.variantName", "Member must not be null")
    weight = item.get("DesiredWeight")
    count = item.get("DesiredInstanceCount")
    return VariantChange(
        name,
        None if weight is None else check_weight(weight, f"{where}.desiredWeight"),
        None if count is None else check_instance_count(count, f"{where}.desiredInstanceCount"),
    )


def register_hosting(api: JsonDispatcher, backend: SageMakerBackend) -> None:
    @api.operation("CreateModel")
    def create_model(params: Params) -> Params:
        model = backend.create_model(
            params.get("ModelName", ""), parse_container(params), params.get("ExecutionRoleArn")
        )
        return {"ModelArn": model.arn}

    @api.operation("DescribeModel")
    def describe_model(params: Params) -> Params:
        return _model(backend.describe_model(params.get("ModelName", "")))

    @api.operation("DeleteModel")
    def delete_model(params: Params) -> Params:
        backend.delete_model(params.get("ModelName", ""))
        return {}

    @api.operation("CreateEndpointConfig")
    def create_endpoint_config(params: Params) -> Params:
        config = backend.create_endpoint_config(
            params.get("EndpointConfigName", ""), parse_config_spec(params)
        )
        return {"EndpointConfigArn": config.arn}

    @api.operation("DescribeEndpointConfig")
    def describe_endpoint_config(params: Params) -> Params:
        return _config(backend.describe_endpoint_config(params.get("EndpointConfigName", "")))

    @api.operation("DeleteEndpointConfig")
    def delete_endpoint_config(params: Params) -> Params:
        backend.delete_endpoint_config(params.get("EndpointConfigName", ""))
        return {}

    @api.operation("CreateEndpoint")
    def create_endpoint(params: Params) -> Params:
        arn = backend.create_endpoint(params.get("EndpointName", ""), params.get("EndpointConfigName", ""))
        return {"EndpointArn": arn}

    @api.operation("DescribeEndpoint")
    def describe_endpoint(params: Params) -> Params:
        return _endpoint(backend.describe_endpoint(params.get("EndpointName", "")))

    @api.operation("ListEndpoints")
    def list_endpoints(params: Params) -> Params:
        summaries = backend.list_endpoints(params.get("NameContains", ""), params.get("StatusEquals"))
        by_name = params.get("SortBy") == "Name"
        summaries.sort(
            key=lambda s: s.name if by_name else s.creation_time,
            reverse=params.get("SortOrder", "Descending") == "Descending",
        )
        rows = [
            {
                "EndpointName": s.name,
                "EndpointArn": s.arn,
                "CreationTime": s.creation_time,
                "LastModifiedTime": s.last_modified_time,
                "EndpointStatus": s.status,
            }
            for s in summaries
        ]
        return paginate(rows, "Endpoints", params.get("NextToken"), int(params.get("MaxResults") or 100))

    @api.operation("DeleteEndpoint")
    def delete_endpoint(params: Params) -> Params:
        backend.delete_endpoint(params.get("EndpointName", ""))
        return {}

    @api.operation("UpdateEndpoint")
    def update_endpoint(params: Params) -> Params:
        config_name = params.get("EndpointConfigName", "")
        wire = params.get("DeploymentConfig")
        policy = parse_deployment_config(wire, backend.production_capacity(config_name)) if wire else None
        return {"EndpointArn": backend.update_endpoint(params.get("EndpointName", ""), config_name, policy)}

    @api.operation("UpdateEndpointWeightsAndCapacities")
    def update_weights_and_capacities(params: Params) -> Params:
        changes = [
            _variant_change(item, i)
            for i, item in enumerate(params.get("DesiredWeightsAndCapacities") or [], start=1)
        ]
        return {"EndpointArn": backend.update_weights_and_capacities(params.get("EndpointName", ""), changes)}
