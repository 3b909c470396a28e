"""SageMaker control plane: resources, AWS's validation errors, endpoint lifecycle states."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

INSTANCE = "ml.m5.large"


def _variant(name: str, model: str, weight: float = 1.0, count: int = 1) -> dict:
    return {
        "VariantName": name,
        "ModelName": model,
        "InitialVariantWeight": weight,
        "InitialInstanceCount": count,
        "InstanceType": INSTANCE,
    }


@pytest.fixture(scope="module")
def sagemaker(clients):
    return clients["sagemaker"]


@pytest.fixture(scope="module")
def unvalidated(emulator):
    """botocore checks some constraints client-side; switch that off to reach the server's checks."""
    return emulator.client("sagemaker", Config(parameter_validation=False))


def _validation_message(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return raised.value.response["Error"]["Message"]


def test_describe_model(sagemaker, model_names, uploaded):
    described = sagemaker.describe_model(ModelName=model_names["v1"])
    assert described["PrimaryContainer"]["ModelDataUrl"] == uploaded["v1"]
    assert described["ModelArn"].endswith(":model/model-v1")


def test_duplicate_and_unknown_resources(sagemaker, model_names, ab_endpoint):
    container = {"Image": "x", "ModelDataUrl": "s3://models/v1/model.tar.gz"}
    message = _validation_message(
        lambda: sagemaker.create_model(ModelName="model-v1", PrimaryContainer=container)
    )
    assert message.startswith('Cannot create already existing model "arn:aws:sagemaker:')
    message = _validation_message(
        lambda: sagemaker.create_endpoint_config(
            EndpointConfigName="ab-config", ProductionVariants=[_variant("A", "model-v1")]
        )
    )
    assert "Cannot create already existing endpoint configuration" in message
    message = _validation_message(
        lambda: sagemaker.create_endpoint(EndpointName="ab", EndpointConfigName="ab-config")
    )
    assert "Cannot create already existing endpoint" in message
    assert "Could not find endpoint" in _validation_message(
        lambda: sagemaker.describe_endpoint(EndpointName="nope")
    )
    assert "Could not find model" in _validation_message(lambda: sagemaker.describe_model(ModelName="nope"))
    assert "Could not find endpoint configuration" in _validation_message(
        lambda: sagemaker.describe_endpoint_config(EndpointConfigName="nope")
    )
    message = _validation_message(
        lambda: sagemaker.create_endpoint_config(
            EndpointConfigName="unknown-model", ProductionVariants=[_variant("A", "no-such-model")]
        )
    )
    assert 'Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/no-such-model"' in message


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"ProductionVariants": [_variant(f"v{i}", "model-v1") for i in range(11)]},
            "length between 1 and 10",
        ),
        (
            {
                "ProductionVariants": [_variant("p", "model-v1")],
                "ShadowProductionVariants": [_variant("s1", "model-v1"), _variant("s2", "model-v1")],
            },
            "exactly one production variant and one shadow variant",
        ),
        (
            {
                "ProductionVariants": [_variant("p1", "model-v1"), _variant("p2", "model-v1")],
                "ShadowProductionVariants": [_variant("s", "model-v1")],
            },
            "exactly one production variant and one shadow variant",
        ),
        (
            {"ProductionVariants": [_variant("A", "model-v1", weight=-1)]},
            "Value '-1' at 'productionVariants.1",
        ),
        ({"ProductionVariants": [_variant("A", "model-v1", count=0)]}, "greater than or equal to 1"),
        (
            {"ProductionVariants": [_variant("A", "model-v1"), _variant("A", "model-v2")]},
            "'A' is used more than once",
        ),
        (
            {
                "ProductionVariants": [_variant("A", "model-v1")],
                "DataCaptureConfig": {
                    "InitialSamplingPercentage": 150,
                    "DestinationS3Uri": "s3://capture/x",
                    "CaptureOptions": [{"CaptureMode": "Input"}],
                },
            },
            "initialSamplingPercentage",
        ),
    ],
    ids=[
        "11-variants",
        "two-shadows",
        "shadow-with-two-production",
        "negative-weight",
        "zero-instances",
        "duplicate-variant",
        "sampling-over-100",
    ],
)
def test_bad_endpoint_configs_are_rejected(unvalidated, model_names, config, expected):
    message = _validation_message(
        lambda: unvalidated.create_endpoint_config(EndpointConfigName="bad", **config)
    )
    assert expected in message
    assert "Could not find endpoint configuration" in _validation_message(
        lambda: unvalidated.describe_endpoint_config(EndpointConfigName="bad")
    )


def test_describe_endpoint_reports_variants(sagemaker, ab_endpoint):
    described = sagemaker.describe_endpoint(EndpointName=ab_endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "ab-config"
    weights = {
        v["VariantName"]: (v["CurrentWeight"], v["CurrentInstanceCount"])
        for v in described["ProductionVariants"]
    }
    assert weights["A"][1] == weights["B"][1] == 1
    assert described["CreationTime"] <= described["LastModifiedTime"]
    listed = sagemaker.list_endpoints(NameContains="ab")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["ab"]


def test_data_capture_keeps_its_kms_key(sagemaker, model_names):
    capture = {
        "InitialSamplingPercentage": 50,
        "DestinationS3Uri": "s3://capture/kms",
        "KmsKeyId": "alias/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    sagemaker.create_endpoint_config(
        EndpointConfigName="kms-config",
        ProductionVariants=[_variant("A", model_names["v1"])],
        DataCaptureConfig=capture,
    )
    described = sagemaker.describe_endpoint_config(EndpointConfigName="kms-config")["DataCaptureConfig"]
    assert described["KmsKeyId"] == "alias/capture"
    sagemaker.delete_endpoint_config(EndpointConfigName="kms-config")


def test_weights_update_validation(unvalidated, ab_endpoint):
    message = _validation_message(
        lambda: unvalidated.update_endpoint_weights_and_capacities(
            EndpointName=ab_endpoint, DesiredWeightsAndCapacities=[{"VariantName": "Z", "DesiredWeight": 1}]
        )
    )
    assert "'Z'" in message
    message = _validation_message(
        lambda: unvalidated.update_endpoint_weights_and_capacities(
            EndpointName=ab_endpoint, DesiredWeightsAndCapacities=[{"VariantName": "A", "DesiredWeight": -1}]
        )
    )
    assert "desiredWeight" in message


def test_tampered_artifact_fails_the_endpoint_with_a_sha256_reason(sagemaker, deploy, model_names):
    deploy("tampered", wait=False, ProductionVariants=[_variant("A", model_names["tampered"])])
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName="tampered", WaiterConfig={"Delay": 0.25, "MaxAttempts": 120}
        )
    described = sagemaker.describe_endpoint(EndpointName="tampered")
    assert described["EndpointStatus"] == "Failed"
    assert "sha256" in described["FailureReason"]
    assert "ArtifactIntegrityError" in described["FailureReason"]


def test_missing_model_data_fails_the_endpoint(sagemaker, deploy, wait_for):
    sagemaker.create_model(
        ModelName="model-missing",
        PrimaryContainer={"Image": "x", "ModelDataUrl": "s3://models/absent/model.tar.gz"},
    )
    deploy("missing-data", wait=False, ProductionVariants=[_variant("A", "model-missing")])
    wait_for(
        lambda: sagemaker.describe_endpoint(EndpointName="missing-data")["EndpointStatus"] != "Creating",
        what="endpoint missing-data no longer Creating",
    )
    described = sagemaker.describe_endpoint(EndpointName="missing-data")
    assert described["EndpointStatus"] == "Failed"
    assert "s3://models/absent/model.tar.gz" in described["FailureReason"]
    assert "NoSuchKey" in described["FailureReason"] or "does not exist" in described["FailureReason"]
    sagemaker.delete_endpoint(EndpointName="missing-data")
    assert "Could not find endpoint" in _validation_message(
        lambda: sagemaker.describe_endpoint(EndpointName="missing-data")
    )


def test_update_endpoint_switches_to_the_new_config(clients, deploy, model_names):
    sagemaker, runtime = clients["sagemaker"], clients["sagemaker-runtime"]
    deploy("switch", ProductionVariants=[_variant("blue", model_names["v1"])])
    sagemaker.create_endpoint_config(
        EndpointConfigName="switch-v2", ProductionVariants=[_variant("green", "model-v2")]
    )
    sagemaker.update_endpoint(EndpointName="switch", EndpointConfigName="switch-v2")
    assert sagemaker.describe_endpoint(EndpointName="switch")["EndpointStatus"] == "Updating"
    served = set()
    while sagemaker.describe_endpoint(EndpointName="switch")["EndpointStatus"] == "Updating":
        served.add(
            runtime.invoke_endpoint(EndpointName="switch", Body="1,2,3,4,5", ContentType="text/csv")[
                "InvokedProductionVariant"
            ]
        )
    described = sagemaker.describe_endpoint(EndpointName="switch")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "switch-v2"
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["green"]
    assert served <= {"blue", "green"}  # traffic kept flowing during the update
    answer = runtime.invoke_endpoint(EndpointName="switch", Body="1,2,3,4,5", ContentType="text/csv")
    assert answer["InvokedProductionVariant"] == "green"
    assert b'"model_version": "v2"' in answer["Body"].read()
    sagemaker.delete_endpoint(EndpointName="switch")


def test_failed_update_keeps_the_old_fleet_serving(clients, deploy, model_names):
    sagemaker, runtime = clients["sagemaker"], clients["sagemaker-runtime"]
    deploy("rollback", ProductionVariants=[_variant("blue", model_names["v1"])])
    sagemaker.create_endpoint_config(
        EndpointConfigName="rollback-bad", ProductionVariants=[_variant("green", model_names["tampered"])]
    )
    sagemaker.update_endpoint(EndpointName="rollback", EndpointConfigName="rollback-bad")
    message = _validation_message(
        lambda: sagemaker.update_endpoint(EndpointName="rollback", EndpointConfigName="rollback-bad")
    )
    assert "Cannot update in-progress endpoint" in message
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="rollback", WaiterConfig={"Delay": 0.2})
    described = sagemaker.describe_endpoint(EndpointName="rollback")
    assert described["EndpointConfigName"] == "rollback-config"
    assert "sha256" in described["FailureReason"]
    answer = runtime.invoke_endpoint(EndpointName="rollback", Body="1,2,3,4,5", ContentType="text/csv")
    assert answer["InvokedProductionVariant"] == "blue"
    sagemaker.delete_endpoint(EndpointName="rollback")
