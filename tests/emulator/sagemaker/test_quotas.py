"""Instance counts are bounded like an account's SageMaker quotas: refused with ResourceLimitExceeded in
SageMaker's wording before any instance starts, the endpoint left as it was."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from emulator.protocol.errors import AwsError
from emulator.sagemaker import quotas
from emulator.sagemaker.resources import DeployedVariant, Deployment, Endpoint

LIMIT_MESSAGE = re.compile(
    r"The account-level service limit '(?P<quota>[^']+)' is (?P<limit>\d+) Instances, with current "
    r"utilization of (?P<used>\d+) Instances and a request delta of (?P<delta>\d+) Instances\. Please use "
    r"AWS Service Quotas to request an increase for this quota\."
)


def _variant(name: str, model: str, count: int) -> dict:
    return {
        "VariantName": name,
        "ModelName": model,
        "InitialInstanceCount": count,
        "InstanceType": "ml.m5.large",
    }


def _refusal(error: pytest.ExceptionInfo[ClientError]) -> dict:
    assert error.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    found = LIMIT_MESSAGE.fullmatch(error.value.response["Error"]["Message"].split(" If AWS")[0])
    assert found, error.value.response["Error"]["Message"]
    return found.groupdict()


def test_a_million_instances_are_refused_before_any_starts(clients, model_names):
    sagemaker = clients["sagemaker"]
    sagemaker.create_endpoint_config(
        EndpointConfigName="million", ProductionVariants=[_variant("A", model_names["v1"], 1_000_000)]
    )  # a config is only a description, as on AWS: the quota applies when instances would start
    with pytest.raises(ClientError) as refused:
        sagemaker.create_endpoint(EndpointName="million", EndpointConfigName="million")
    assert _refusal(refused) == {
        "quota": quotas.PER_ENDPOINT_QUOTA,
        "limit": str(quotas.INSTANCES_PER_ENDPOINT),
        "used": "0",
        "delta": "1000000",
    }
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName="million")


def test_shadow_instances_count_towards_the_endpoint(clients, model_names):
    sagemaker = clients["sagemaker"]
    half = quotas.INSTANCES_PER_ENDPOINT // 2 + 1
    sagemaker.create_endpoint_config(
        EndpointConfigName="wide-shadow",
        ProductionVariants=[_variant("prod", model_names["v1"], half)],
        ShadowProductionVariants=[_variant("shadow", model_names["v2"], half)],
    )
    with pytest.raises(ClientError) as refused:
        sagemaker.create_endpoint(EndpointName="wide-shadow", EndpointConfigName="wide-shadow")
    assert _refusal(refused)["delta"] == str(2 * half)


def test_scaling_past_the_quota_is_refused_and_the_endpoint_is_unchanged(clients, ab_endpoint):
    sagemaker = clients["sagemaker"]
    before = sagemaker.describe_endpoint(EndpointName=ab_endpoint)
    with pytest.raises(ClientError) as refused:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=ab_endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "A", "DesiredInstanceCount": 1000}],
        )
    found = _refusal(refused)
    assert (found["used"], found["delta"]) == ("2", "999")  # A and B run one instance each
    after = sagemaker.describe_endpoint(EndpointName=ab_endpoint)
    assert after["EndpointStatus"] == "InService"
    assert [v["DesiredInstanceCount"] for v in after["ProductionVariants"]] == [
        v["DesiredInstanceCount"] for v in before["ProductionVariants"]
    ]


def _endpoint(status: str, counts: dict[str, int]) -> Endpoint:
    variants = tuple(
        DeployedVariant(f"v{i}", "m", "s3://b/k", "img", {}, kind, 1.0, 1.0, n, n)
        for i, (kind, n) in enumerate(counts.items())
    )
    return Endpoint("e", "arn", "c", status, 0.0, 0.0, Deployment(variants, (), None))


def test_the_account_quota_is_per_instance_type_and_ignores_failed_endpoints():
    used = quotas.in_use(
        [
            _endpoint("InService", {"ml.m5.large": quotas.INSTANCES_PER_TYPE - 5, "ml.c5.xlarge": 3}),
            _endpoint("Failed", {"ml.m5.large": 50}),
        ]
    )
    assert used == Counter({"ml.m5.large": quotas.INSTANCES_PER_TYPE - 5, "ml.c5.xlarge": 3})
    quotas.check(5, Counter({"ml.m5.large": 5}), used)  # exactly at the quota
    quotas.check(10, Counter({"ml.c5.xlarge": 10}), used)  # another type has its own
    with pytest.raises(AwsError) as refused:
        quotas.check(6, Counter({"ml.m5.large": 6}), used)
    assert refused.value.code == "ResourceLimitExceeded"
    assert refused.value.message.startswith(
        f"The account-level service limit 'ml.m5.large for endpoint usage' is {quotas.INSTANCES_PER_TYPE} "
        f"Instances, with current utilization of {quotas.INSTANCES_PER_TYPE - 5} Instances and a request "
        "delta of 6 Instances."
    )
