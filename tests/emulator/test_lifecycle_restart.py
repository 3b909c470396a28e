"""Alarms, metrics, registry entries and compilation jobs are kept across an emulator restart."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from emulator import control


def test_lifecycle_state_survives_a_restart(tmp_path, emulator_factory, artifacts, wait_for):
    first = emulator_factory(tmp_path / "home")
    s3, sagemaker, cloudwatch = (first.client(name) for name in ("s3", "sagemaker", "cloudwatch"))
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(artifacts["v1"]), "models", "v1/model.tar.gz")
    sagemaker.create_model_package_group(ModelPackageGroupName="kept")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="kept",
        InferenceSpecification={
            "Containers": [{"Image": "rtinfer-xgboost", "ModelDataUrl": "s3://models/v1/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    sagemaker.create_compilation_job(
        CompilationJobName="kept",
        RoleArn="arn:aws:iam::000000000000:role/neo",
        InputConfig={"S3Uri": "s3://models/v1/model.tar.gz", "Framework": "XGBOOST"},
        OutputConfig={"S3OutputLocation": "s3://models/compiled", "TargetDevice": "ml_m5"},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )
    wait_for(
        lambda: (
            sagemaker.describe_compilation_job(CompilationJobName="kept")["CompilationJobStatus"]
            == "COMPLETED"
        ),
        timeout=180,
        what="compilation job COMPLETED",
    )
    cloudwatch.put_metric_data(Namespace="Kept", MetricData=[{"MetricName": "m", "Value": 3.0}])
    cloudwatch.put_metric_alarm(
        AlarmName="kept", Namespace="Kept", MetricName="m", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    first_version = sagemaker.create_model_package(
        ModelPackageGroupName="kept",
        InferenceSpecification={"Containers": [{"Image": "rtinfer-xgboost"}]},
    )["ModelPackageArn"]
    sagemaker.delete_model_package(ModelPackageName=first_version)

    control.stop(first.home)
    second = emulator_factory(first.home)
    sagemaker, cloudwatch = second.client("sagemaker"), second.client("cloudwatch")
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    assert (
        sagemaker.describe_compilation_job(CompilationJobName="kept")["CompilationJobStatus"] == "COMPLETED"
    )
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == ["kept"]
    assert cloudwatch.list_metrics(Namespace="Kept")["Metrics"][0]["MetricName"] == "m"
    # version numbers keep counting after a deletion, across the restart too
    third = sagemaker.create_model_package(
        ModelPackageGroupName="kept", InferenceSpecification={"Containers": [{"Image": "rtinfer-xgboost"}]}
    )["ModelPackageArn"]
    assert third.endswith("/kept/3")
    with pytest.raises(ClientError, match="does not exist"):  # deleted stays deleted
        sagemaker.describe_model_package(ModelPackageName=first_version)
