"""Model registry: groups, numbered package versions, approval, listing order, CreateModel from a package."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

GROUP = "fraud-scorer"


@pytest.fixture(scope="module")
def sagemaker(clients):
    return clients["sagemaker"]


def _spec(url: str) -> dict:
    return {
        "Containers": [
            {"Image": "rtinfer-xgboost", "ModelDataUrl": url, "Environment": {"FROM": "registry"}}
        ],
        "SupportedContentTypes": ["text/csv", "application/json"],
        "SupportedResponseMIMETypes": ["application/json"],
    }


@pytest.fixture(scope="module")
def packages(sagemaker, uploaded) -> list[str]:
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP, ModelPackageGroupDescription="scores")
    arns = []
    for i, status in enumerate(["PendingManualApproval", "Approved", None]):
        extra = {"ModelApprovalStatus": status} if status else {}
        arns.append(
            sagemaker.create_model_package(
                ModelPackageGroupName=GROUP,
                ModelPackageDescription=f"candidate {i + 1}",
                InferenceSpecification=_spec(uploaded["v1" if i < 2 else "v2"]),
                CustomerMetadataProperties={"auc": f"0.8{i}"},
                ModelMetrics={
                    "ModelQuality": {
                        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://models/metrics.json"}
                    }
                },
                **extra,
            )["ModelPackageArn"]
        )
        time.sleep(0.01)  # distinct CreationTimes
    return arns


def test_versions_and_description(sagemaker, packages):
    assert packages == [
        f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{GROUP}/{v}" for v in (1, 2, 3)
    ]
    described = sagemaker.describe_model_package(ModelPackageName=packages[2])
    assert described["ModelPackageVersion"] == 3
    assert described["ModelPackageGroupName"] == GROUP
    assert described["ModelPackageStatus"] == "Completed"
    assert described["ModelApprovalStatus"] == "PendingManualApproval"  # the default
    assert described["CustomerMetadataProperties"] == {"auc": "0.82"}
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://models/metrics.json"
    assert described["CreationTime"] <= described["LastModifiedTime"]
    group = sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP)
    assert group["ModelPackageGroupStatus"] == "Completed"
    assert group["ModelPackageGroupArn"].endswith(f":model-package-group/{GROUP}")
    # The emulator is shared with other test files: the filter must return ours, and only matches.
    listed = sagemaker.list_model_package_groups(NameContains="scorer")["ModelPackageGroupSummaryList"]
    names = [g["ModelPackageGroupName"] for g in listed]
    assert GROUP in names and all("scorer" in name for name in names), names
    assert not sagemaker.list_model_package_groups(NameContains="no-such-group")[
        "ModelPackageGroupSummaryList"
    ]


def test_listing_order_filters_and_pages(sagemaker, packages):
    def versions(**params) -> list[int]:
        listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, **params)
        return [p["ModelPackageVersion"] for p in listed["ModelPackageSummaryList"]]

    assert versions() == [1, 2, 3]  # AWS defaults: CreationTime, Ascending
    assert versions(SortOrder="Descending") == [3, 2, 1]
    assert versions(ModelApprovalStatus="Approved") == [2]
    first = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, MaxResults=2)
    assert len(first["ModelPackageSummaryList"]) == 2
    rest = sagemaker.list_model_packages(
        ModelPackageGroupName=GROUP, MaxResults=2, NextToken=first["NextToken"]
    )
    assert [p["ModelPackageVersion"] for p in rest["ModelPackageSummaryList"]] == [3]


def test_update_approval(sagemaker, packages):
    sagemaker.update_model_package(
        ModelPackageArn=packages[0],
        ModelApprovalStatus="Rejected",
        ApprovalDescription="AUC below the bar",
        CustomerMetadataProperties={"reviewer": "risk-team"},
    )
    described = sagemaker.describe_model_package(ModelPackageName=packages[0])
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"] == "AUC below the bar"
    assert described["CustomerMetadataProperties"] == {"auc": "0.80", "reviewer": "risk-team"}
    assert described["LastModifiedTime"] > described["CreationTime"]
    with pytest.raises(ClientError) as raised:
        sagemaker.update_model_package(ModelPackageArn=packages[0], ModelApprovalStatus="Maybe")
    assert "modelApprovalStatus" in raised.value.response["Error"]["Message"]


def test_create_model_from_a_package_and_serve_it(clients, packages, uploaded, deploy):
    sagemaker, runtime = clients["sagemaker"], clients["sagemaker-runtime"]
    sagemaker.create_model(ModelName="from-registry", PrimaryContainer={"ModelPackageName": packages[2]})
    container = sagemaker.describe_model(ModelName="from-registry")["PrimaryContainer"]
    assert container["ModelDataUrl"] == uploaded["v2"]
    assert container["Image"] == "rtinfer-xgboost"
    assert container["Environment"] == {"FROM": "registry"}
    deploy(
        "registry-served",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "from-registry", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip
    answer = runtime.invoke_endpoint(
        EndpointName="registry-served", Body=b"0,0,0,0,0", ContentType="text/csv"
    )
    assert json.loads(answer["Body"].read())["model_version"] == "v2"


def test_errors_and_delete(sagemaker, packages, uploaded):
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model_package(
            ModelPackageGroupName="no-group", InferenceSpecification=_spec(uploaded["v1"])
        )
    assert "Model Package Group 'no-group' does not exist" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(ModelName="dangling", PrimaryContainer={"ModelPackageName": f"{GROUP}/99"})
    assert "does not exist" in raised.value.response["Error"]["Message"]
    sagemaker.delete_model_package(ModelPackageName=packages[0])
    with pytest.raises(ClientError):
        sagemaker.describe_model_package(ModelPackageName=packages[0])
    listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in listed] == [2, 3]
