"""The model registry on the wire: requests validated with SageMaker's wording into the registry's typed
records, and the records rendered back in SageMaker's shapes."""

from __future__ import annotations

from typing import Any

from emulator.protocol.errors import validation_exception
from emulator.protocol.json_rpc import JsonDispatcher
from emulator.protocol.pagination import paginate
from emulator.s3.backend import parse_s3_uri
from emulator.sagemaker.registry import (
    InferenceSpecification,
    ModelPackage,
    ModelRegistry,
    PackageContainer,
    PackageFilter,
    PackageGroup,
    PackageSpec,
    PackageUpdate,
)
from emulator.sagemaker.validation import constraint_error

Params = dict[str, Any]

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
# CreateModelPackage members with a meaning here; the rest are kept and echoed as given. ClientToken
# and Tags are not part of the description; the name and marketplace flag are the registry's to set.
_PACKAGE_MEMBERS = {
    "ModelPackageGroupName",
    "InferenceSpecification",
    "ModelApprovalStatus",
    "ModelPackageDescription",
    "CustomerMetadataProperties",
    "ModelPackageName",
    "CertifyForMarketplace",
    "ClientToken",
    "Tags",
}
_CONTAINER_MEMBERS = {"Image", "ModelDataUrl", "Environment"}


def _check_approval(value: object, field: str) -> str:
    if value not in APPROVAL_STATUSES:
        raise constraint_error(value, field, f"Member must satisfy enum value set: {list(APPROVAL_STATUSES)}")
    return value  # type: ignore[return-value]


def _container(wire: Params, index: int) -> PackageContainer:
    where = f"inferenceSpecification.containers.{index}.member"
    if not wire.get("Image"):
        raise constraint_error(wire.get("Image"), f"{where}.image", "Member must not be null")
    url = wire.get("ModelDataUrl")
    if "ModelDataUrl" in wire:
        try:
            parse_s3_uri(url)
        except ValueError as exc:
            raise constraint_error(url, f"{where}.modelDataUrl", str(exc)) from None
    other = {key: value for key, value in wire.items() if key not in _CONTAINER_MEMBERS}
    return PackageContainer(wire["Image"], url, wire.get("Environment"), other)


def _inference(wire: Params | None) -> InferenceSpecification:
    containers = (wire or {}).get("Containers") or []
    if not containers:
        raise constraint_error(
            containers,
            "inferenceSpecification.containers",
            "Member must have length greater than or equal to 1",
        )
    parsed = tuple(_container(container, i) for i, container in enumerate(containers, start=1))
    return InferenceSpecification(parsed, {k: v for k, v in (wire or {}).items() if k != "Containers"})


def parse_package_spec(params: Params) -> PackageSpec:
    group_name = params.get("ModelPackageGroupName")
    if not group_name:
        raise validation_exception(
            "ModelPackageGroupName is required: only versioned model packages are emulated"
        )
    inference = _inference(params.get("InferenceSpecification"))
    approval = _check_approval(
        params.get("ModelApprovalStatus", "PendingManualApproval"), "modelApprovalStatus"
    )
    return PackageSpec(
        group_name,
        inference,
        approval,
        params.get("ModelPackageDescription"),
        params.get("CustomerMetadataProperties"),
        {key: value for key, value in params.items() if key not in _PACKAGE_MEMBERS},
    )


def _package_update(params: Params) -> PackageUpdate:
    approval = params.get("ModelApprovalStatus")
    return PackageUpdate(
        params.get("ModelPackageArn") or "",
        None if approval is None else _check_approval(approval, "modelApprovalStatus"),
        params.get("ApprovalDescription"),
        dict(params.get("CustomerMetadataProperties") or {}),
        tuple(params.get("CustomerMetadataPropertiesToRemove") or ()),
    )


def _package_filter(params: Params) -> PackageFilter:
    approval = params.get("ModelApprovalStatus")
    return PackageFilter(
        params.get("ModelPackageGroupName"),
        None if approval is None else _check_approval(approval, "modelApprovalStatus"),
        params.get("NameContains", ""),
        params.get("CreationTimeAfter"),
        params.get("CreationTimeBefore"),
        params.get("ModelPackageType", "Both"),
    )


def _group_summary(group: PackageGroup) -> Params:
    return {
        "ModelPackageGroupName": group.name,
        "ModelPackageGroupArn": group.arn,
        "ModelPackageGroupDescription": group.description,
        "CreationTime": group.creation_time,
        "ModelPackageGroupStatus": "Completed",
    }


def _container_wire(container: PackageContainer) -> Params:
    wire = {**container.other, "Image": container.image}
    if container.model_data_url is not None:
        wire["ModelDataUrl"] = container.model_data_url
    if container.environment is not None:
        wire["Environment"] = container.environment
    return wire


def _package_summary(package: ModelPackage) -> Params:
    summary: Params = {
        "ModelPackageName": package.spec.group_name,
        "ModelPackageGroupName": package.spec.group_name,
        "ModelPackageVersion": package.version,
        "ModelPackageArn": package.arn,
        "CreationTime": package.creation_time,
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": package.approval,
    }
    if package.spec.description is not None:
        summary["ModelPackageDescription"] = package.spec.description
    return summary


def _package(package: ModelPackage) -> Params:
    inference = package.spec.inference
    described = {
        **package.spec.other,
        **_package_summary(package),
        "InferenceSpecification": {
            **inference.other,
            "Containers": [_container_wire(c) for c in inference.containers],
        },
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "LastModifiedTime": package.last_modified_time,
        "CertifyForMarketplace": False,
    }
    optional = {
        "ApprovalDescription": package.approval_description,
        "CustomerMetadataProperties": package.customer_metadata,
    }
    return described | {key: value for key, value in optional.items() if value is not None}


def _page(rows: list[Params], params: Params, member: str, name_key: str) -> Params:
    """Sort (AWS defaults: CreationTime, Ascending; versions break ties) and paginate list results."""
    primary = name_key if params.get("SortBy") == "Name" else "CreationTime"
    rows.sort(
        key=lambda r: (r[primary], r.get("ModelPackageVersion", 0)),
        reverse=params.get("SortOrder", "Ascending") == "Descending",
    )
    return paginate(rows, member, params.get("NextToken"), int(params.get("MaxResults") or 100))


def register_registry(api: JsonDispatcher, registry: ModelRegistry) -> None:
    @api.operation("CreateModelPackageGroup")
    def create_group(params: Params) -> Params:
        name = params.get("ModelPackageGroupName") or ""
        if not name:
            raise constraint_error(name, "modelPackageGroupName", "Member must not be null")
        group = registry.create_group(name, params.get("ModelPackageGroupDescription", ""))
        return {"ModelPackageGroupArn": group.arn}

    @api.operation("DescribeModelPackageGroup")
    def describe_group(params: Params) -> Params:
        return {**_group_summary(registry.describe_group(params["ModelPackageGroupName"])), "CreatedBy": {}}

    @api.operation("ListModelPackageGroups")
    def list_groups(params: Params) -> Params:
        rows = [_group_summary(g) for g in registry.list_groups(params.get("NameContains", ""))]
        return _page(rows, params, "ModelPackageGroupSummaryList", "ModelPackageGroupName")

    @api.operation("DeleteModelPackageGroup")
    def delete_group(params: Params) -> Params:
        registry.delete_group(params["ModelPackageGroupName"])
        return {}

    @api.operation("CreateModelPackage")
    def create_package(params: Params) -> Params:
        return {"ModelPackageArn": registry.create_package(parse_package_spec(params)).arn}

    @api.operation("DescribeModelPackage")
    def describe_package(params: Params) -> Params:
        return _package(registry.describe_package(params["ModelPackageName"]))

    @api.operation("UpdateModelPackage")
    def update_package(params: Params) -> Params:
        return {"ModelPackageArn": registry.update_package(_package_update(params)).arn}

    @api.operation("ListModelPackages")
    def list_packages(params: Params) -> Params:
        rows = [_package_summary(p) for p in registry.list_packages(_package_filter(params))]
        return _page(rows, params, "ModelPackageSummaryList", "ModelPackageName")

    @api.operation("DeleteModelPackage")
    def delete_package(params: Params) -> Params:
        registry.delete_package(params["ModelPackageName"])
        return {}
