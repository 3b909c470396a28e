"""Blue/green UpdateEndpoint: canary and linear traffic shifting under load, alarm-driven rollback.

Runs on the fast emulator (RTINFER_TIME_SCALE=0.02): a 100 s baking period lasts 2 s, a 60 s alarm
period 1.2 s.
"""

from __future__ import annotations

import json
import math
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROW = b"0.1,0.2,0.3,0.4,0.5"


@pytest.fixture(scope="module")
def sagemaker(fast_clients):
    return fast_clients["sagemaker"]


@pytest.fixture(scope="module")
def cloudwatch(fast_clients):
    return fast_clients["cloudwatch"]


def _variants(model: str) -> list[dict]:
    return [
        {
            "VariantName": "AllTraffic",
            "ModelName": model,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
        }
    ]


def _config(sagemaker, name: str, model: str) -> str:
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=_variants(model))
    return name


@pytest.fixture(scope="module")
def endpoint(sagemaker, deploy_endpoint):
    """`endpoint(name, model)`: a blue endpoint serving `model`, InService."""
    return lambda name, model: deploy_endpoint(sagemaker, name, ProductionVariants=_variants(model))


def _alarm(cloudwatch, name: str, endpoint: str, metric: str, threshold: float, **statistic) -> str:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName=metric,
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Period=60,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        **(statistic or {"Statistic": "Sum"}),
    )
    return name


def _blue_green(routing: dict, alarms: tuple[str, ...] = (), **policy) -> dict:
    config: dict = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 3600,
            **policy,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


class Load:
    """Invokes the endpoint continuously from a thread; records (time, ok, model_version or error)."""

    def __init__(self, emulator, endpoint: str) -> None:
        self._runtime = emulator.client("sagemaker-runtime", Config(retries={"max_attempts": 1}))
        self._endpoint = endpoint
        self._stop = threading.Event()
        self.results: list[tuple[float, bool, str]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._runtime.invoke_endpoint(
                    EndpointName=self._endpoint, Body=ROW, ContentType="text/csv"
                )
                version = json.loads(answer["Body"].read())["model_version"]
                self.results.append((time.monotonic(), True, version))
            except ClientError as exc:
                self.results.append((time.monotonic(), False, exc.response["Error"]["Code"]))

    def between(self, start: float, end: float) -> list[tuple[float, bool, str]]:
        return [r for r in self.results if start <= r[0] <= end]


def _wait_until_settled(sagemaker, wait_for, name: str) -> tuple[dict, list[dict]]:
    """Describe the endpoint until the update ends; return the final description and every one seen."""
    seen: list[dict] = []

    def settled() -> dict | None:
        seen.append(sagemaker.describe_endpoint(EndpointName=name))
        return seen[-1] if seen[-1]["EndpointStatus"] != "Updating" else None

    return wait_for(settled, what=f"endpoint {name} no longer Updating"), seen


def _canary_under_load(
    emulator, wait_for, sagemaker, name: str, green: str, alarm: str, percent: int, wait_s: int
):
    """UpdateEndpoint to `green` as a CANARY of `percent` while a steady load runs; returns the load,
    the final and every seen description, and when the update started and settled."""
    with Load(emulator, name) as load:
        wait_for(lambda: len(load.results) >= 20, what="20 calls before the update")
        started = time.monotonic()
        sagemaker.update_endpoint(
            EndpointName=name,
            EndpointConfigName=green,
            DeploymentConfig=_blue_green(
                {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
                    "WaitIntervalInSeconds": wait_s,
                },
                (alarm,),
            ),
        )
        final, seen = _wait_until_settled(sagemaker, wait_for, name)
        settled = time.monotonic()
        wait_for(lambda: len(load.between(settled + 0.1, math.inf)) >= 20, what="20 calls after the update")
    return load, final, seen, started, settled


def test_healthy_canary_under_load_switches_without_a_failed_call(
    fast_emulator, wait_for, sagemaker, cloudwatch, fast_models, endpoint
):
    name = endpoint("bg-healthy", fast_models["healthy"])
    alarm = _alarm(cloudwatch, "bg-healthy-5xx", name, "Invocation5XXErrors", 0)
    green = _config(sagemaker, "bg-healthy-green", fast_models["v2"])
    load, final, seen, _, settled = _canary_under_load(
        fast_emulator, wait_for, sagemaker, name, green, alarm, 50, 100
    )
    assert [r for r in load.results if not r[1]] == []
    assert final["EndpointStatus"] == "InService"
    assert final["EndpointConfigName"] == green
    assert "FailureReason" not in final
    pending = [d["PendingDeploymentSummary"] for d in seen if "PendingDeploymentSummary" in d]
    assert pending and pending[0]["EndpointConfigName"] == green
    canary = [p for p in pending if p["ProductionVariants"][0]["CurrentWeight"] == 0.5]
    assert canary and canary[0]["ProductionVariants"][0]["VariantStatus"][0]["Status"] == "Baking"
    statuses = [s["Status"] for p in pending for v in p["ProductionVariants"] for s in v["VariantStatus"]]
    assert set(statuses) <= set(sagemaker.meta.service_model.shape_for("VariantStatus").enum), statuses
    # green serves alone while blue's instances terminate: the model's status for that is Deleting
    assert statuses[-1] == "Deleting" and pending[-1]["ProductionVariants"][0]["CurrentWeight"] == 1.0
    versions = {r[2] for r in load.results}
    assert versions == {"v1", "v2"}  # both fleets answered during the canary
    assert {r[2] for r in load.between(settled, settled + 10)} == {"v2"}


def test_failing_canary_rolls_back_on_the_error_alarm(
    fast_emulator, wait_for, sagemaker, cloudwatch, fast_models, endpoint
):
    name = endpoint("bg-failing", fast_models["healthy"])
    alarm = _alarm(cloudwatch, "bg-failing-5xx", name, "Invocation5XXErrors", 0)
    blue = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    green = _config(sagemaker, "bg-failing-green", fast_models["failing"])
    load, final, _, started, settled = _canary_under_load(
        fast_emulator, wait_for, sagemaker, name, green, alarm, 25, 1800
    )
    assert settled - started < 30  # rolled back well before the 36 s (1800 s scaled) bake ended
    assert final["EndpointStatus"] == "InService"
    assert final["EndpointConfigName"] == blue
    assert "Rolled back" in final["FailureReason"] and alarm in final["FailureReason"]
    assert final["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": alarm}]
    during = load.between(started, settled)
    errors = [r for r in during if not r[1]]
    assert errors and {code for _, _, code in errors} == {"ModelError"}
    assert len(errors) / len(during) <= 0.4  # the canary's 25% share, give or take sampling noise
    assert all(ok for _, ok, _ in load.between(settled + 0.1, settled + 10))  # blue serves everything again


def test_slow_canary_rolls_back_on_the_latency_alarm(
    fast_emulator, wait_for, sagemaker, cloudwatch, fast_models, endpoint
):
    name = endpoint("bg-slow", fast_models["healthy"])
    # ModelLatency is in microseconds: p99 above 100 ms
    alarm = _alarm(cloudwatch, "bg-slow-p99", name, "ModelLatency", 100_000, ExtendedStatistic="p99")
    blue = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    green = _config(sagemaker, "bg-slow-green", fast_models["slow"])
    load, final, *_ = _canary_under_load(fast_emulator, wait_for, sagemaker, name, green, alarm, 50, 1800)
    assert all(ok for _, ok, _ in load.results)  # slow, not failing
    assert final["EndpointConfigName"] == blue
    assert alarm in final["FailureReason"]
    state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert state["ExtendedStatistic"] == "p99"


def test_linear_steps_show_in_describe_endpoint(sagemaker, fast_models, endpoint, wait_for):
    name = endpoint("bg-linear", fast_models["healthy"])
    green = _config(sagemaker, "bg-linear-green", fast_models["v2"])
    sagemaker.update_endpoint(
        EndpointName=name,
        EndpointConfigName=green,
        DeploymentConfig=_blue_green(
            {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                "WaitIntervalInSeconds": 50,
            }
        ),
    )
    final, seen = _wait_until_settled(sagemaker, wait_for, name)
    shares = []
    for described in seen:
        if "PendingDeploymentSummary" in described:
            share = described["PendingDeploymentSummary"]["ProductionVariants"][0]["CurrentWeight"]
            assert described["ProductionVariants"][0]["CurrentWeight"] == pytest.approx(1 - share)
            if not shares or shares[-1] != share:
                shares.append(share)
    assert [s for s in shares if s > 0] == [0.25, 0.5, 0.75, 1.0]
    assert final["EndpointConfigName"] == green and final["EndpointStatus"] == "InService"


@pytest.fixture(scope="module")
def green_config(sagemaker, fast_models) -> str:
    return _config(sagemaker, "bg-validation-green", fast_models["healthy"])


@pytest.mark.parametrize(
    ("deployment_config", "expected"),
    [
        (
            _blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 3601}),
            "Value '3601' at 'deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration."
            "waitIntervalInSeconds' failed to satisfy constraint: "
            "Member must have value less than or equal to 3600",
        ),
        (
            _blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, TerminationWaitInSeconds=-1),
            "'deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0",
        ),
        (
            _blue_green(
                {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, MaximumExecutionTimeoutInSeconds=599
            ),
            "Value '599' at 'deploymentConfig.blueGreenUpdatePolicy.maximumExecutionTimeoutInSeconds'",
        ),
        (
            _blue_green(
                {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60},
                    "WaitIntervalInSeconds": 0,
                }
            ),
            "canarySize CAPACITY_PERCENT 60 is 60% of the new fleet's 1 instance(s)",
        ),
        (
            _blue_green(
                {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 0,
                }
            ),
            "INSTANCE_COUNT 1 is 100% of the new fleet's 1 instance(s)",
        ),
        (
            _blue_green(
                {
                    "Type": "LINEAR",
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 5},
                    "WaitIntervalInSeconds": 0,
                }
            ),
            "between 10% and 50%",
        ),
        (
            _blue_green({"Type": "SOMETIMES", "WaitIntervalInSeconds": 0}),
            "Value 'SOMETIMES' at 'deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type'",
        ),
        (
            _blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, ("no-such-alarm",)),
            "CloudWatch alarm(s) ['no-such-alarm'] do not exist",
        ),
        (  # complete, so that what is refused is the policy itself, not its missing members
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 0,
                }
            },
            "RollingUpdatePolicy is not supported by this emulator",
        ),
    ],
)
def test_deployment_config_validation(fast_emulator, green_config, deployment_config, expected):
    unvalidated = fast_emulator.client("sagemaker", Config(parameter_validation=False))
    with pytest.raises(ClientError) as raised:
        unvalidated.update_endpoint(
            EndpointName="bg-any", EndpointConfigName=green_config, DeploymentConfig=deployment_config
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert expected in raised.value.response["Error"]["Message"]


def test_exceeding_the_maximum_execution_time_rolls_back(sagemaker, fast_models, endpoint, wait_for):
    name = endpoint("bg-timeout", fast_models["healthy"])
    blue = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    green = _config(sagemaker, "bg-timeout-green", fast_models["v2"])
    sagemaker.update_endpoint(
        EndpointName=name,
        EndpointConfigName=green,
        DeploymentConfig=_blue_green(
            {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 3600},  # 72 s scaled: the 12 s limit hits first
            MaximumExecutionTimeoutInSeconds=600,
        ),
    )
    final, _ = _wait_until_settled(sagemaker, wait_for, name)
    assert final["EndpointConfigName"] == blue
    assert "MaximumExecutionTimeoutInSeconds (600) exceeded" in final["FailureReason"]
