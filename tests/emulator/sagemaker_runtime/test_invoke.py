"""InvokeEndpoint through real boto3: weighted routing, TargetVariant, shadow, data capture, errors."""

from __future__ import annotations

import json
import math
import re
import time
import uuid

import pytest

ROW = "0.5,-1.2,0.3,2.0,-0.7"


@pytest.fixture(scope="module")
def runtime(clients):
    return clients["sagemaker-runtime"]


def _count_variants(runtime, endpoint: str, calls: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _ in range(calls):
        name = runtime.invoke_endpoint(EndpointName=endpoint, Body=ROW, ContentType="text/csv")[
            "InvokedProductionVariant"
        ]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _assert_binomial(observed: int, calls: int, p: float) -> None:
    """Within 5 standard deviations: a false failure has odds below one in a million."""
    sd = math.sqrt(calls * p * (1 - p))
    assert abs(observed - calls * p) <= 5 * sd, f"{observed} of {calls}, expected about {calls * p:.0f}"


def test_invoke_returns_predictions(runtime, ab_endpoint):
    answer = runtime.invoke_endpoint(
        EndpointName=ab_endpoint,
        Body=json.dumps({"instances": [[0.1] * 5, [0.2] * 5]}),
        ContentType="application/json",
        Accept="application/json",
    )
    assert answer["ContentType"] == "application/json"
    payload = json.loads(answer["Body"].read())
    assert len(payload["predictions"]) == 2
    assert payload["model_version"] in ("v1", "v2")
    csv = runtime.invoke_endpoint(
        EndpointName=ab_endpoint, Body=ROW, ContentType="text/csv", Accept="text/csv"
    )
    assert csv["ContentType"] == "text/csv"
    assert 0 <= float(csv["Body"].read().decode().strip()) <= 1


def test_weights_split_traffic_and_can_be_updated(clients, runtime, ab_endpoint):
    counts = _count_variants(runtime, ab_endpoint, 600)
    _assert_binomial(counts.get("A", 0), 600, 0.7)

    sagemaker = clients["sagemaker"]
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ab_endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredWeight": 1},
            {"VariantName": "B", "DesiredWeight": 3},
        ],
    )
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=ab_endpoint, WaiterConfig={"Delay": 0.2})
    variants = {
        v["VariantName"]: v
        for v in sagemaker.describe_endpoint(EndpointName=ab_endpoint)["ProductionVariants"]
    }
    assert variants["B"]["CurrentWeight"] == variants["B"]["DesiredWeight"] == 3
    counts = _count_variants(runtime, ab_endpoint, 400)
    _assert_binomial(counts.get("A", 0), 400, 0.25)

    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ab_endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredWeight": 0.7},
            {"VariantName": "B", "DesiredWeight": 0.3},
        ],
    )
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=ab_endpoint, WaiterConfig={"Delay": 0.2})


def test_target_variant_overrides_weights(runtime, ab_endpoint):
    for _ in range(20):
        answer = runtime.invoke_endpoint(
            EndpointName=ab_endpoint, Body=ROW, ContentType="text/csv", TargetVariant="B"
        )
        assert answer["InvokedProductionVariant"] == "B"
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        runtime.invoke_endpoint(EndpointName=ab_endpoint, Body=ROW, ContentType="text/csv", TargetVariant="Z")
    assert "'Z'" in raised.value.response["Error"]["Message"]


def test_instance_count_update_adds_workers(clients, runtime, ab_endpoint):
    sagemaker = clients["sagemaker"]
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ab_endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "B", "DesiredInstanceCount": 2}],
    )
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=ab_endpoint, WaiterConfig={"Delay": 0.2})
    variants = {
        v["VariantName"]: v
        for v in sagemaker.describe_endpoint(EndpointName=ab_endpoint)["ProductionVariants"]
    }
    assert variants["B"]["CurrentInstanceCount"] == 2
    for _ in range(10):
        runtime.invoke_endpoint(EndpointName=ab_endpoint, Body=ROW, ContentType="text/csv", TargetVariant="B")
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ab_endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "B", "DesiredInstanceCount": 1}],
    )
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=ab_endpoint, WaiterConfig={"Delay": 0.2})


def _capture_lines(s3, wait_for, bucket: str, prefix: str, expected: int) -> list[tuple[str, dict]]:
    """(key, record) for every captured line under `prefix`, waiting for the 1 s flush."""

    def captured() -> list[tuple[str, dict]] | None:
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        ]
        lines = [
            (key, json.loads(line))
            for key in keys
            for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        ]
        return lines if len(lines) >= expected else None

    return wait_for(captured, what=f"{expected} captured lines under {prefix}")


def test_shadow_gets_a_copy_and_everything_is_captured(
    clients, runtime, shadow_endpoint, capture_bucket, wait_for
):
    inference_ids = [str(uuid.uuid4()) for _ in range(5)]
    for inference_id in inference_ids:
        answer = runtime.invoke_endpoint(
            EndpointName=shadow_endpoint, Body=ROW, ContentType="text/csv", InferenceId=inference_id
        )
        assert answer["InvokedProductionVariant"] == "prod"
        assert json.loads(answer["Body"].read())["model_version"] == "v1"  # never the shadow's answer

    s3 = clients["s3"]
    prod = _capture_lines(s3, wait_for, capture_bucket, f"datacapture/{shadow_endpoint}/prod/", 5)
    shadow = _capture_lines(s3, wait_for, capture_bucket, f"datacapture/{shadow_endpoint}/shadow/", 5)
    assert sorted(r["eventMetadata"]["inferenceId"] for _, r in prod) == sorted(inference_ids)
    assert sorted(r["eventMetadata"]["inferenceId"] for _, r in shadow) == sorted(inference_ids)
    layout = re.compile(rf"datacapture/{shadow_endpoint}/(prod|shadow)/\d{{4}}/\d\d/\d\d/\d\d/[\w-]+\.jsonl")
    for key, record in prod + shadow:
        assert layout.fullmatch(key), key
        data = record["captureData"]
        assert data["endpointInput"] == {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": ROW,
            "encoding": "CSV",
        }
        assert data["endpointOutput"]["mode"] == "OUTPUT"
        assert data["endpointOutput"]["encoding"] == "JSON"
        assert record["eventVersion"] == "0"
        uuid.UUID(record["eventMetadata"]["eventId"])
        assert record["eventMetadata"]["inferenceTime"].endswith("Z")
    assert {json.loads(r["captureData"]["endpointOutput"]["data"])["model_version"] for _, r in shadow} == {
        "v2"
    }
    described = clients["sagemaker"].describe_endpoint(EndpointName=shadow_endpoint)["DataCaptureConfig"]
    assert described == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{capture_bucket}/datacapture",
        "KmsKeyId": "",  # required by DescribeEndpoint's model; no customer key was given
    }


def test_each_capture_file_is_an_s3_put_request(
    emulator, clients, runtime, shadow_endpoint, capture_bucket, wait_for
):
    """On AWS data capture PUTs into the customer's bucket (billed, and in its request metrics); the
    emulated capture writes straight into its S3 store and counts them the same way."""
    runtime.invoke_endpoint(EndpointName=shadow_endpoint, Body=ROW, ContentType="text/csv")
    cloudwatch, s3 = emulator.client("cloudwatch"), clients["s3"]

    def objects() -> int:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=capture_bucket)
        return sum(page.get("KeyCount", 0) for page in pages)

    def puts() -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/S3",
            MetricName="PutRequests",
            Dimensions=[
                {"Name": "BucketName", "Value": capture_bucket},
                {"Name": "FilterId", "Value": "EntireBucket"},
            ],
            StartTime=time.time() - 3 * 3600,
            EndTime=time.time() + 60,
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    # every object in the bucket was written by data capture, each once
    wait_for(
        lambda: objects() >= 2 and puts() == objects(), what=lambda: f"{puts()} PUTs, {objects()} objects"
    )


def test_unknown_endpoint_is_a_validation_error(runtime):
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=ROW, ContentType="text/csv")
    assert (
        raised.value.response["Error"]["Message"]
        == "Endpoint no-such-endpoint of account 000000000000 not found."
    )


def test_endpoint_not_in_service_is_a_validation_error(runtime, clients, model_names, deploy):
    deploy(
        "failed-endpoint",
        wait=False,
        ProductionVariants=[
            {
                "VariantName": "A",
                "ModelName": model_names["tampered"],
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        runtime.invoke_endpoint(EndpointName="failed-endpoint", Body=ROW, ContentType="text/csv")
    assert "not in service" in raised.value.response["Error"]["Message"]


def test_oversized_body_is_rejected(runtime, ab_endpoint):
    body = ("0.1," * 4 + "0.1\n") * (6 * 1024 * 1024 // 20 + 10)
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        runtime.invoke_endpoint(EndpointName=ab_endpoint, Body=body, ContentType="text/csv")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "exceeds the maximum" in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("1,2,oops,4,5", "text/csv", "CSV row 0 column 2: 'oops' is not a number"),
        ("1,2,3", "text/csv", "rows have 3 columns, the model expects 5"),
        ("{not json", "application/json", "body is not valid JSON"),
        ('[{"f0": 1}]', "application/json", "row 0: missing feature 'f1'"),
        ("1,2,3,4,5", "application/x-unknown", "unsupported content type 'application/x-unknown'"),
    ],
)
def test_malformed_payload_is_a_model_error_with_the_workers_message(
    runtime, ab_endpoint, body, content_type, expected
):
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(
            EndpointName=ab_endpoint, Body=body, ContentType=content_type, TargetVariant="A"
        )
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert expected in response["OriginalMessage"]
    assert expected in response["Error"]["Message"]
    # the worker survived: the next good request is served by the same variant
    assert runtime.invoke_endpoint(
        EndpointName=ab_endpoint, Body=ROW, ContentType="text/csv", TargetVariant="A"
    )
