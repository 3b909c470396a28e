"""The SageMaker calls behind every endpoint change: the blue/green policy, content-addressed endpoint
configs, guardrail alarms and the in-service wait, against the emulator's SageMaker and CloudWatch."""

import numpy as np
import pytest
import xgboost as xgb
from pydantic import ValidationError

from orchestration.endpoint.rollout import (
    DeploymentPolicy,
    EndpointFailed,
    VariantSpec,
    ensure_endpoint_config,
    ensure_model_from_package,
    put_guardrail_alarms,
    wait_in_service,
)
from orchestration.model.artifact import pack_model_artifact
from orchestration.model.images import model_image_uri
from orchestration.model.registry import publish_artifact

GROUP = "rollout-tests"


def test_all_at_once_shifts_everything_after_one_bake():
    config = DeploymentPolicy(strategy="ALL_AT_ONCE", wait_interval_s=30).deployment_config([])
    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 30},
            "TerminationWaitInSeconds": 60,
            "MaximumExecutionTimeoutInSeconds": 1800,
        }
    }


def test_canary_and_linear_carry_their_step_and_alarms_enable_auto_rollback():
    canary = DeploymentPolicy(strategy="CANARY", canary_percent=20).deployment_config(["a", "b"])
    routing = canary["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 20}
    assert "LinearStepSize" not in routing
    assert canary["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "a"}, {"AlarmName": "b"}]}
    linear = DeploymentPolicy(strategy="LINEAR", linear_step_percent=10).deployment_config([])
    routing = linear["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}
    assert "CanarySize" not in routing and "AutoRollbackConfiguration" not in linear


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strategy", "BIG_BANG"),
        ("canary_percent", 0),
        ("canary_percent", 51),
        ("linear_step_percent", 4),
        ("wait_interval_s", 3601),
        ("max_execution_s", 599),
        ("instance_count", 11),
        ("alarm_period_s", 5),
        ("alarm_p99_latency_ms", 0),
        ("unknown_knob", 1),
    ],
)
def test_policy_rejects_values_outside_its_ranges_naming_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        DeploymentPolicy(**{field: value})


@pytest.fixture(scope="module")
def model_name(emulator, tmp_path_factory):
    x = np.random.default_rng(0).uniform(size=(200, 3))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 3)
    packed = pack_model_artifact(
        booster, ["a", "b", "c"], 0.5, "r-v1", {}, tmp_path_factory.mktemp("rollout") / "model.tar.gz"
    )
    sm = emulator.client("sagemaker")
    version = publish_artifact(emulator.client("s3"), sm, emulator.settings, GROUP, packed)
    name = ensure_model_from_package(sm, emulator.settings, version)
    assert ensure_model_from_package(sm, emulator.settings, version) == name  # found, not created twice
    return name


def test_endpoint_configs_are_content_addressed(emulator, model_name):
    sm = emulator.client("sagemaker")
    one = [VariantSpec("production", model_name, 1.0, 1, "ml.m5.large")]
    two = [VariantSpec("production", model_name, 1.0, 2, "ml.m5.large")]
    first = ensure_endpoint_config(sm, emulator.settings, "rollout-ep", one)
    assert (
        ensure_endpoint_config(sm, emulator.settings, "rollout-ep", one) == first
    )  # same layout, one config
    other = ensure_endpoint_config(sm, emulator.settings, "rollout-ep", two)
    shadowed = ensure_endpoint_config(
        sm,
        emulator.settings,
        "rollout-ep",
        one,
        shadow=VariantSpec("candidate", model_name, 1.0, 2, "ml.m5.large"),
    )
    assert len({first, other, shadowed}) == 3 and all(n.startswith("rollout-ep-") for n in (first, other))
    described = sm.describe_endpoint_config(EndpointConfigName=shadowed)
    assert described["ShadowProductionVariants"][0]["InitialInstanceCount"] == 2
    assert (
        described["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{emulator.settings.bucket}/datacapture"
    )
    long_name = ensure_endpoint_config(sm, emulator.settings, "x" * 63, one)
    assert len(long_name) <= 63  # SageMaker's name limit


def test_guardrail_alarms_watch_the_new_fleet(emulator):
    cw = emulator.client("cloudwatch")
    policy = DeploymentPolicy(alarm_max_errors=2, alarm_p99_latency_ms=150, alarm_period_s=30)
    names = put_guardrail_alarms(cw, "alarmed", "production", policy)
    assert names == [
        "alarmed-production-5xx",
        "alarmed-production-model-errors",
        "alarmed-production-p99-latency",
    ]
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert set(alarms) == set(names)
    latency = alarms["alarmed-production-p99-latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("ModelLatency", "p99")
    assert latency["Threshold"] == 150_000  # ModelLatency is in microseconds
    assert alarms["alarmed-production-5xx"]["Threshold"] == 2 and latency["Period"] == 30
    assert {d["Value"] for d in latency["Dimensions"]} == {"alarmed", "production"}


def test_wait_in_service_surfaces_the_failure_reason(emulator):
    sm = emulator.client("sagemaker")
    sm.create_model(
        ModelName="rollout-missing-artifact",
        ExecutionRoleArn=emulator.settings.sagemaker_role_arn,
        PrimaryContainer={
            "Image": model_image_uri(emulator.settings),
            "ModelDataUrl": f"s3://{emulator.settings.bucket}/models/none/model.tar.gz",
        },
    )
    spec = VariantSpec("production", "rollout-missing-artifact", 1.0, 1, "ml.m5.large")
    config = ensure_endpoint_config(sm, emulator.settings, "rollout-failing", [spec])
    sm.create_endpoint(EndpointName="rollout-failing", EndpointConfigName=config)
    with pytest.raises(
        EndpointFailed, match=r"endpoint rollout-failing is Failed, not InService: \S+"
    ) as error:
        wait_in_service(sm, "rollout-failing", 120)
    reason = sm.describe_endpoint(EndpointName="rollout-failing")["FailureReason"]
    assert reason in str(error.value)
