"""Deployment strategies through the same boto3 calls as on AWS, against the emulator's SageMaker:
registry gating, blue/green under load, alarm-driven rollback of bad candidates, shadow, A/B, rollback.
"""

import json
import threading
import time
from collections import Counter

import dagster as dg
import numpy as np
import pytest
import xgboost as xgb

from jobs.endpoint import approve_model_version
from orchestration.endpoint.actions import (
    ABTrafficConfig,
    DeployConfig,
    RollbackConfig,
    ShadowConfig,
    run_deploy,
    run_rollback,
    run_set_traffic,
    run_shadow,
)
from orchestration.endpoint.history import DeploymentHistory, Trigger
from orchestration.endpoint.strategies import Clients, NothingToDo
from orchestration.model.artifact import pack_model_artifact
from orchestration.model.registry import (
    APPROVED,
    REJECTED,
    NotApproved,
    find_version,
    publish_artifact,
    reject,
)
from orchestration.wiring.resources import AwsClients
from serving.features import FEATURE_NAMES

GROUP = "strategy-tests"
ROW = ",".join(["0.5"] * len(FEATURE_NAMES))
CONDITION_DEADLINE_S = 60  # generous: a loaded 2-core machine


def _register(emulator, root, version: str, seed: int, approved: bool = True, fault: str | None = None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(400, len(FEATURE_NAMES)))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.7), 5)
    packed = pack_model_artifact(
        booster, list(FEATURE_NAMES), 0.5, version, {}, root / version / "model.tar.gz"
    )
    environment = {"RTINFER_FAULT": fault} if fault else None
    sm = emulator.client("sagemaker")
    return publish_artifact(
        emulator.client("s3"), sm, emulator.settings, GROUP, packed, approved, environment
    )


@pytest.fixture(scope="module")
def world(fast_emulator, tmp_path_factory):
    emulator = fast_emulator
    root = tmp_path_factory.mktemp("strategy-models")
    _register(emulator, root, "v1", 1)
    _register(emulator, root, "v2", 2, approved=False)
    _register(emulator, root, "broken", 3, fault="error_rate=1.0")
    _register(emulator, root, "slow", 4, fault="latency_ms=400")
    for seed, version in enumerate(("k1", "k2", "k3"), start=5):
        _register(emulator, root, version, seed)
    clients = Clients(emulator.client("sagemaker"), emulator.client("cloudwatch"), emulator.client("s3"))
    return emulator, clients


class Load:
    """Callers invoking the endpoint continuously while a deployment runs."""

    def __init__(self, emulator, endpoint: str):
        self.runtime = emulator.client("sagemaker-runtime")
        self.endpoint = endpoint
        self.variants: Counter = Counter()
        self.versions: Counter = Counter()
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.runtime.invoke_endpoint(
                    EndpointName=self.endpoint, ContentType="text/csv", Body=ROW
                )
                self.versions[json.loads(response["Body"].read())["model_version"]] += 1
                self.variants[response["InvokedProductionVariant"]] += 1
            except Exception:  # noqa: BLE001 — every caller-visible failure counts
                self.failures += 1

    @property
    def calls(self) -> int:
        return self.failures + sum(self.variants.values())

    def wait_for_calls(self, n: int, timeout_s: float = CONDITION_DEADLINE_S) -> None:
        """Block (without spinning a core) until `n` calls were made; fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.calls < n:
            assert time.monotonic() < deadline, f"only {self.calls} of {n} calls in {timeout_s} s"
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _deploy(clients, emulator, endpoint, version, **policy):
    # Baking 100 s, termination 10 s: 2 s and 0.2 s at the emulator's 0.02 time scale.
    policy = {"wait_interval_s": 100, "termination_wait_s": 10, "wait_seconds": 300, **policy}
    config = DeployConfig(endpoint_name=endpoint, package_group=GROUP, model_version=version, **policy)
    return run_deploy(clients, emulator.settings, config)


def test_unapproved_version_is_refused_until_the_approval_job_runs(world, monkeypatch):
    emulator, clients = world
    _deploy(clients, emulator, "gated", "v1", instance_count=1)
    with pytest.raises(NotApproved, match="PendingManualApproval"):
        _deploy(clients, emulator, "gated", "v2", instance_count=1)

    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    result = approve_model_version.execute_in_process(
        run_config={"ops": {"decide_approval": {"config": {"package_group": GROUP, "model_version": "v2"}}}},
        resources={"aws": AwsClients()},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.output_for_node("decide_approval")["approval"] == "Approved"
    assert (
        _deploy(clients, emulator, "gated", "v2", instance_count=1, strategy="ALL_AT_ONCE").outcome
        == "deployed"
    )


def test_canary_deployment_under_steady_load_fails_no_call(world):
    emulator, clients = world
    _deploy(clients, emulator, "steady", "v1", instance_count=2)
    with Load(emulator, "steady") as load:
        result = _deploy(
            clients, emulator, "steady", "v2", instance_count=2, strategy="CANARY", canary_percent=50
        )
    assert result.outcome == "deployed" and result.production_version == "v2"
    assert load.failures == 0 and load.calls > 50
    assert set(load.versions) == {"v1", "v2"}  # traffic really moved during the run


@pytest.mark.parametrize(("candidate", "alarm"), [("broken", "5xx"), ("slow", "p99-latency")])
def test_bad_candidate_is_rolled_back_by_its_alarm(world, candidate, alarm):
    emulator, clients = world
    endpoint = f"guarded-{candidate}"
    baseline = _deploy(clients, emulator, endpoint, "v1", instance_count=2)
    with Load(emulator, endpoint) as load:
        result = _deploy(
            clients,
            emulator,
            endpoint,
            candidate,
            instance_count=2,
            strategy="CANARY",
            canary_percent=50,
            # At the emulator's 0.02 time scale: a 1.2 s alarm period (the emulator's metrics land once
            # a second, so a shorter period can see no datapoint and stay OK) within an 18 s bake; the
            # alarm ends the bake early when it fires, so the long bake costs a passing run nothing.
            alarm_period_s=60,
            wait_interval_s=900,
        )
    assert result.outcome == "rolled_back", result
    assert alarm in result.failure_reason or "alarm" in result.failure_reason.lower()
    described = clients.sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == baseline.endpoint_config_name
    status, note = _status(clients, candidate)  # a failed canary never becomes "newest Approved" again
    assert status == REJECTED and note.startswith("its deploy rolled back: ")
    if candidate == "broken":
        assert load.failures > 0  # the canary did take traffic
        assert load.failures <= 0.5 * load.calls + 5  # ...but never more than its share


def test_shadow_sees_traffic_that_callers_never_see(world):
    emulator, clients = world
    _deploy(clients, emulator, "shadowed", "v1", instance_count=1)
    result = run_shadow(
        clients,
        emulator.settings,
        ShadowConfig(endpoint_name="shadowed", package_group=GROUP, model_version="v2"),
    )
    assert (result.mode, result.candidate_version) == ("shadow", "v2")
    with Load(emulator, "shadowed") as load:
        load.wait_for_calls(40)
    assert set(load.variants) == {"production"} and set(load.versions) == {"v1"}
    # Captures are buffered and flushed to S3 about once a second, as SageMaker does in batches.
    deadline = time.monotonic() + CONDITION_DEADLINE_S
    keys = []
    while not keys and time.monotonic() < deadline:
        listing = clients.s3.list_objects_v2(
            Bucket=emulator.settings.bucket, Prefix="datacapture/shadowed/candidate/"
        )
        keys = [entry["Key"] for entry in listing.get("Contents", [])]
        time.sleep(0.2)
    assert keys, "shadow predictions are captured for comparison"


def _status(clients, version: str) -> tuple[str, str]:
    found = find_version(clients.sagemaker, GROUP, version)
    return found.status, found.approval_note


def test_rollback_rejects_what_it_takes_off_and_lands_on_the_last_known_good(world):
    emulator, clients = world
    _deploy(clients, emulator, "split", "k1", instance_count=1)
    _deploy(clients, emulator, "split", "k2", instance_count=1, strategy="ALL_AT_ONCE")
    result = run_set_traffic(
        clients,
        emulator.settings,
        ABTrafficConfig(endpoint_name="split", package_group=GROUP, model_version="k3", candidate_weight=0.5),
    )
    assert result.mode == "ab"
    with Load(emulator, "split") as load:
        load.wait_for_calls(200)
    assert 0.3 < load.variants["candidate"] / load.calls < 0.7

    config = RollbackConfig(endpoint_name="split", package_group=GROUP)
    sensor = Trigger("run-ab-1", "guardrail breached: 'candidate' failed 9 of 30 calls")
    first = run_rollback(clients, emulator.settings, config, sensor)
    assert (first.mode, first.production_version) == ("single", "k2")  # the candidate is dropped
    assert (first.rolled_back_arn, first.run_id, first.reason) == (
        result.candidate_arn,
        sensor.run_id,
        sensor.reason,
    )
    assert _status(clients, "k3") == (REJECTED, f"rolled back by run run-ab-1: {sensor.reason}")

    second = run_rollback(clients, emulator.settings, config, Trigger("run-health-2", "p99 latency 900 ms"))
    assert second.production_version == "k1"  # back to the version before, which was never rolled back
    assert _status(clients, "k2")[0] == REJECTED

    # k1 is the first version this endpoint served: nothing known-good is left, and nothing changes.
    with pytest.raises(NothingToDo, match="no known-good version to roll back to"):
        run_rollback(clients, emulator.settings, config, Trigger("run-3", "a person"))
    described = clients.sagemaker.describe_endpoint(EndpointName="split")
    assert described["EndpointConfigName"] == second.endpoint_config_name
    assert _status(clients, "k1")[0] == APPROVED


def test_a_rejected_version_deploys_only_with_an_override_that_is_recorded(world):
    emulator, clients = world
    _deploy(clients, emulator, "override", "v1", instance_count=1)
    reject(clients.sagemaker, find_version(clients.sagemaker, GROUP, "slow").arn, "p99 latency 400 ms")
    with pytest.raises(
        NotApproved, match=r"is Rejected \(p99 latency 400 ms\); to deploy it anyway, set override"
    ):
        _deploy(clients, emulator, "override", "slow", instance_count=1, strategy="ALL_AT_ONCE")
    deployed = _deploy(
        clients,
        emulator,
        "override",
        "slow",
        instance_count=1,
        strategy="ALL_AT_ONCE",
        alarms=False,
        override_rejection="latency budget raised for the batch tier",
    )
    assert (deployed.outcome, deployed.production_version) == ("deployed", "slow")
    history = DeploymentHistory(clients.s3, emulator.settings, "override").entries()
    assert history[-1].override == "latency budget raised for the batch tier"
