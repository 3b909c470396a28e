"""The SageMaker calls behind every endpoint change, with boto3: models from registry packages,
content-addressed endpoint configs, guardrail alarms, the blue/green policy, and applying a config
(create or update, then wait until SageMaker settles it: InService on the new config, or rolled back).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestration.model.registry import CONTENT_SHA256_KEY, RegisteredVersion
from orchestration.settings import Settings
from serving.artifact import ARTIFACT_SHA256_ENV


class DeploymentPolicy(BaseModel):
    """How a new version replaces the production fleet (SageMaker blue/green), and what rolls it back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = Field(
        "CANARY", description="how traffic moves to the new fleet: all at once, a canary first, or in steps"
    )
    canary_percent: int = Field(10, ge=1, le=50, description="share of capacity the canary gets (CANARY)")
    linear_step_percent: int = Field(25, ge=5, le=50, description="share of capacity per step (LINEAR)")
    wait_interval_s: int = Field(300, ge=0, le=3600, description="baking time between traffic shifts")
    termination_wait_s: int = Field(
        60, ge=0, le=3600, description="how long the old fleet is kept after the switch, for a fast rollback"
    )
    max_execution_s: int = Field(
        1800, ge=600, le=14400, description="SageMaker gives up (and rolls back) after this long"
    )
    instance_count: int = Field(2, ge=1, le=10, description="instances of the new fleet")
    instance_type: str = Field("ml.m5.large", min_length=1, description="SageMaker instance type")
    alarms: bool = Field(
        True, description="roll back automatically when a guardrail alarm fires while baking"
    )
    alarm_max_errors: int = Field(0, ge=0, description="errors (5XX + model errors) per period tolerated")
    alarm_p99_latency_ms: float = Field(250.0, gt=0, description="p99 model latency the alarm tolerates")
    alarm_period_s: int = Field(60, ge=10, le=3600, description="the alarms' evaluation period")
    wait_seconds: int = Field(
        3600, ge=1, le=86_400, description="how long the run waits for the deployment to settle"
    )

    def deployment_config(self, alarm_names: list[str]) -> dict:
        routing: dict = {"Type": self.strategy, "WaitIntervalInSeconds": self.wait_interval_s}
        if self.strategy == "CANARY":
            routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": self.canary_percent}
        elif self.strategy == "LINEAR":
            routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": self.linear_step_percent}
        config: dict = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": self.termination_wait_s,
                "MaximumExecutionTimeoutInSeconds": self.max_execution_s,
            }
        }
        if alarm_names:
            config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names]}
        return config


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model_name: str
    weight: float
    instance_count: int
    instance_type: str


class UnpinnedArtifact(ValueError):
    """A registered version records no artifact digest, so nothing could tell its artifact swapped."""


def ensure_model_from_package(sm, settings: Settings, version: RegisteredVersion) -> str:
    """A SageMaker model created from the registered package (so it carries the package's container),
    with the artifact digest the registry recorded in the container's environment: the model server
    refuses any other artifact."""
    if not version.content_sha256:
        raise UnpinnedArtifact(
            f"model package {version.arn} ({version.model_version}) records no {CONTENT_SHA256_KEY}; "
            "register the artifact again (publish_artifact records it) before deploying it"
        )
    name = f"{version.model_version}-p{version.version}"[:63]
    try:
        sm.describe_model(ModelName=name)
    except sm.exceptions.ClientError:
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=settings.sagemaker_role_arn,
            PrimaryContainer={
                "ModelPackageName": version.arn,
                "Environment": {ARTIFACT_SHA256_ENV: version.content_sha256},
            },
        )
    return name


def _config_name(endpoint: str, body: dict) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
    return f"{endpoint[:50]}-{digest}"


def _variant(spec: VariantSpec) -> dict:
    return {
        "VariantName": spec.name,
        "ModelName": spec.model_name,
        "InitialInstanceCount": spec.instance_count,
        "InstanceType": spec.instance_type,
        "InitialVariantWeight": spec.weight,
    }


def ensure_endpoint_config(
    sm, settings: Settings, endpoint: str, production: list[VariantSpec], shadow: VariantSpec | None = None
) -> str:
    """An endpoint config for these variants (content-addressed, so the same layout reuses one config)."""
    body: dict = {
        "ProductionVariants": [_variant(v) for v in production],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{settings.bucket}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "JsonContentTypes": ["application/json"],
                "CsvContentTypes": ["text/csv"],
            },
        },
    }
    if shadow is not None:
        body["ShadowProductionVariants"] = [_variant(shadow)]
    name = _config_name(endpoint, body)
    try:
        sm.describe_endpoint_config(EndpointConfigName=name)
    except sm.exceptions.ClientError:
        sm.create_endpoint_config(EndpointConfigName=name, **body)
    return name


def put_guardrail_alarms(cw, endpoint: str, variant: str, policy: DeploymentPolicy) -> list[str]:
    """Alarms on the new fleet's errors and p99 latency; SageMaker rolls back while any is in ALARM."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": policy.alarm_period_s,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "TreatMissingData": "notBreaching",
    }
    alarms = {
        f"{endpoint}-{variant}-5xx": {
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": float(policy.alarm_max_errors),
            "ComparisonOperator": "GreaterThanThreshold",
        },
        f"{endpoint}-{variant}-model-errors": {
            "MetricName": "InvocationModelErrors",
            "Statistic": "Sum",
            "Threshold": float(policy.alarm_max_errors),
            "ComparisonOperator": "GreaterThanThreshold",
        },
        f"{endpoint}-{variant}-p99-latency": {
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": policy.alarm_p99_latency_ms * 1000,  # ModelLatency is in microseconds
            "ComparisonOperator": "GreaterThanThreshold",
        },
    }
    for name, alarm in alarms.items():
        cw.put_metric_alarm(
            AlarmName=name, AlarmDescription=f"rtinfer guardrail for {endpoint}", **common, **alarm
        )
    return list(alarms)


def _describe(sm, endpoint: str) -> dict | None:
    try:
        return sm.describe_endpoint(EndpointName=endpoint)
    except sm.exceptions.ClientError:
        return None


def settle(sm, endpoint: str, timeout_s: int) -> dict:
    """Wait for an update to finish (InService or Failed) and return the final description."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] in ("InService", "Failed"):
            return described
        time.sleep(0.5)
    raise TimeoutError(f"endpoint {endpoint} still {described['EndpointStatus']} after {timeout_s}s")


def apply_config(
    sm,
    endpoint: str,
    config_name: str,
    deployment_config: dict | None,
    timeout_s: int,
) -> tuple[str, str | None, str | None]:
    """Create the endpoint or update it to `config_name`.

    Returns (outcome, previous config name, failure reason) where outcome is deployed, unchanged or
    rolled_back (SageMaker kept the previous config: an alarm fired or the new fleet failed).
    """
    current = _describe(sm, endpoint)
    if current is None:
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        wait_in_service(sm, endpoint, timeout_s)
        return "deployed", None, None
    previous = current["EndpointConfigName"]
    if previous == config_name and current["EndpointStatus"] == "InService":
        return "unchanged", previous, None
    update = {"EndpointName": endpoint, "EndpointConfigName": config_name}
    if deployment_config:
        update["DeploymentConfig"] = deployment_config
    sm.update_endpoint(**update)
    time.sleep(0.2)  # DescribeEndpoint reports Updating from here on
    final = settle(sm, endpoint, timeout_s)
    if final["EndpointConfigName"] == config_name and final["EndpointStatus"] == "InService":
        return "deployed", previous, None
    return (
        "rolled_back",
        previous,
        final.get("FailureReason") or "the endpoint kept its previous configuration",
    )


class EndpointFailed(RuntimeError):
    """The endpoint did not reach InService; the message carries SageMaker's FailureReason."""


def wait_in_service(sm, endpoint_name: str, timeout_seconds: int) -> None:
    """boto3's endpoint_in_service waiter, with SageMaker's FailureReason surfaced when it gives up."""
    delay = 1 if timeout_seconds <= 900 else 5
    try:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint_name,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, timeout_seconds // delay)},
        )
    except Exception as error:
        described = sm.describe_endpoint(EndpointName=endpoint_name)
        reason = described.get("FailureReason") or str(error)
        raise EndpointFailed(
            f"endpoint {endpoint_name} is {described['EndpointStatus']}, not InService: {reason}"
        ) from error


def drift_from_recorded(sm, endpoint: str, recorded_config: str | None) -> str | None:
    """How the live endpoint differs from the layout the history last recorded; None if it does not.

    A run that failed before its first endpoint call (or whose change SageMaker rolled back) leaves
    the endpoint on the recorded config, InService: there is nothing to undo.
    """
    live = _describe(sm, endpoint)
    if live is None:
        return None if recorded_config is None else f"endpoint {endpoint} is gone"
    if live["EndpointConfigName"] != recorded_config:
        return f"endpoint {endpoint} is on {live['EndpointConfigName']}, not the recorded {recorded_config}"
    if live["EndpointStatus"] != "InService":
        return f"endpoint {endpoint} is {live['EndpointStatus']} on its recorded config"
    return None
