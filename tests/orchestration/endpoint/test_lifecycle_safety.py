"""Lifecycle safety, explored: hypothesis drives sequences of deploys (good and broken versions),
shadows, A/B splits, promotions, rollbacks, failed runs and sensor ticks against the emulator, and
after every step checks what a platform team relies on:

- production never serves a Rejected version;
- a rollback lands on the last known-good version, or refuses and changes nothing;
- a failed run that never touched the endpoint changes nothing;
- every endpoint change traces to a run with a reason, and the history says what the endpoint is.

Deploys use each blue/green strategy (all at once, canary, linear). Each sequence gets its own
endpoint and freshly registered versions (registration reuses one artifact, so it costs no
training). RTINFER_SAFETY_EXAMPLES sets the number of sequences (the suite runs a few; a nightly run
can ask for hundreds).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter

import dagster as dg
import numpy as np
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orchestration.endpoint.actions import (
    ABTrafficConfig,
    DeployConfig,
    PromoteConfig,
    RollbackConfig,
    ShadowConfig,
    run_deploy,
    run_promote,
    run_rollback,
    run_set_traffic,
    run_shadow,
)
from orchestration.endpoint.history import DeploymentHistory, Trigger
from orchestration.endpoint.names import PRODUCTION
from orchestration.endpoint.strategies import Clients, NothingToDo
from orchestration.model.artifact import pack_model_artifact
from orchestration.model.registry import (
    REJECTED,
    NotApproved,
    find_version,
    publish_artifact,
    register_version,
)
from serving.features import FEATURE_NAMES

GROUP = "safety-tests"
SEQUENCES = int(os.environ.get("RTINFER_SAFETY_EXAMPLES", "4"))
STEPS_PER_SEQUENCE = 10
FAST = {"strategy": "ALL_AT_ONCE", "alarms": False, "wait_interval_s": 0, "termination_wait_s": 0}
COMMON = {"package_group": GROUP, "instance_count": 1, "wait_seconds": 120}
STATS: Counter = Counter()


@pytest.fixture(scope="module")
def safety_world(fast_emulator, tmp_path_factory, monkeypatch_module):
    """One trained artifact in the registry's bucket (every sequence registers versions of it), and a
    file that is no model at all (a version of it fails to start: the injected fault)."""
    emulator = fast_emulator
    monkeypatch_module.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch_module.setenv("RTINFER_HOME", str(emulator.home))
    x = np.random.default_rng(0).uniform(size=(300, len(FEATURE_NAMES)))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.7), 3)
    root = tmp_path_factory.mktemp("safety")
    packed = pack_model_artifact(booster, list(FEATURE_NAMES), 0.5, "safety-base", {}, root / "m.tar.gz")
    s3, sm = emulator.client("s3"), emulator.client("sagemaker")
    base = publish_artifact(s3, sm, emulator.settings, GROUP, packed)
    broken_key = "safety/not-a-model.tar.gz"
    s3.put_object(Bucket=emulator.settings.bucket, Key=broken_key, Body=b"this is not a tar.gz")
    clients = Clients(sm, emulator.client("cloudwatch"), s3)
    broken_url = f"s3://{emulator.settings.bucket}/{broken_key}"
    return emulator, clients, base.model_data_url, broken_url, base.content_sha256


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _live_production_package(sm, endpoint: str) -> str:
    """The model package the endpoint's production variant really serves, read from SageMaker."""
    config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variants = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    model = next(v["ModelName"] for v in variants if v["VariantName"] == PRODUCTION)
    return sm.describe_model(ModelName=model)["PrimaryContainer"]["ModelPackageName"]


def make_machine(
    emulator, clients: Clients, model_url: str, broken_url: str, failed_deploy_tick, content_sha256: str
):
    sequence_numbers = itertools.count()

    class LifecycleSafety(RuleBasedStateMachine):
        """The model below is what the platform promises; every rule checks SageMaker against it."""

        @initialize()
        def start(self):
            self.n = next(sequence_numbers)
            STATS["sequences"] += 1
            self.endpoint = f"safety-{os.getpid()}-{self.n}"
            self.history = DeploymentHistory(clients.s3, emulator.settings, self.endpoint)
            self.runs = itertools.count()
            self.good = [self._register(f"g{i}", model_url) for i in range(3)]
            self.broken = self._register("broken", broken_url)
            self.rejected: set[str] = set()
            self.served: list[str] = []  # versions in the order they took production over
            self.production, self.mode, self.candidate = None, "none", None
            self.failed_a_run = False
            self._deploy(self.good[0])

        def _register(self, name: str, url: str) -> str:
            version = f"safety-{os.getpid()}-{self.n}-{name}"
            register_version(
                clients.sagemaker,
                emulator.settings,
                GROUP,
                version,
                url,
                {},
                True,
                content_sha256=content_sha256,  # the broken file never gets as far as the check
            )
            return version

        def _trigger(self, reason: str) -> Trigger:
            return Trigger(f"run-{self.n}-{next(self.runs)}", reason)

        def _live_config(self) -> str:
            return clients.sagemaker.describe_endpoint(EndpointName=self.endpoint)["EndpointConfigName"]

        def _deploy(self, version: str, strategy: str = "ALL_AT_ONCE") -> None:
            # Every blue/green strategy, with a 10 s bake (0.2 s at the emulator's time scale).
            policy = {**FAST, "strategy": strategy, "wait_interval_s": 0 if strategy == "ALL_AT_ONCE" else 10}
            config = DeployConfig(endpoint_name=self.endpoint, model_version=version, **COMMON, **policy)
            before = self._live_config() if self.production else None
            try:
                result = run_deploy(clients, emulator.settings, config, self._trigger(f"deploy {version}"))
            except NotApproved:
                assert version in self.rejected, f"{version} refused but never rejected"
                assert self._live_config() == before  # a refused deploy changes nothing
                STATS["refused deploys"] += 1
                return
            assert version not in self.rejected, f"Rejected {version} was deployed"
            if result.outcome == "rolled_back":
                assert version == self.broken and self.production is not None
                assert find_version(clients.sagemaker, GROUP, version).status == REJECTED
                self.rejected.add(version)
                STATS["failed deploys rejected"] += 1
                return
            self._took_over(version)

        def _took_over(self, version: str) -> None:
            STATS["production changes"] += version != self.production
            if not self.served or self.served[-1] != version:
                self.served.append(version)
            self.production, self.mode, self.candidate = version, "single", None

        def _expected_rollback_target(self) -> str | None:
            return next(
                (v for v in reversed(self.served) if v != self.production and v not in self.rejected), None
            )

        @rule(index=st.integers(0, 3), strategy=st.sampled_from(["ALL_AT_ONCE", "CANARY", "LINEAR"]))
        def deploy(self, index, strategy):
            STATS["steps"] += 1
            STATS[f"{strategy} deploys"] += 1
            self._deploy((self.good + [self.broken])[index], strategy)

        @rule(index=st.integers(0, 2), share=st.sampled_from([0.2, 0.5]), shadow=st.booleans())
        def add_candidate(self, index, share, shadow):
            STATS["steps"] += 1
            version = self.good[index]
            if version == self.production:
                return
            target = {"endpoint_name": self.endpoint, "model_version": version, **COMMON}
            trigger = self._trigger(f"{'shadow' if shadow else 'split'} {version}")
            try:
                if shadow:
                    config = ShadowConfig(**target, sampling_share=share)
                    result = run_shadow(clients, emulator.settings, config, trigger)
                else:
                    config = ABTrafficConfig(**target, candidate_weight=share)
                    result = run_set_traffic(clients, emulator.settings, config, trigger)
            except NotApproved:
                assert version in self.rejected
                STATS["refused candidates"] += 1
                return
            assert result.outcome in ("deployed", "unchanged")
            assert result.production_version == self.production
            self.mode, self.candidate = result.mode, version
            STATS[f"{result.mode} candidates added"] += 1

        @rule()
        def promote(self):
            STATS["steps"] += 1
            config = PromoteConfig(endpoint_name=self.endpoint, **COMMON, **FAST)
            if self.mode == "single":
                with pytest.raises(NothingToDo):
                    run_promote(clients, emulator.settings, config, self._trigger("promote"))
                return
            result = run_promote(clients, emulator.settings, config, self._trigger("promote"))
            assert result.production_version == self.candidate
            self._took_over(self.candidate)
            STATS["promotions"] += 1

        @rule(reason=st.sampled_from(["ab_test_sensor: guardrail breached", "a person: bad reviews"]))
        def rollback(self, reason):
            STATS["steps"] += 1
            config = RollbackConfig(endpoint_name=self.endpoint, package_group=GROUP, wait_seconds=120)
            before = self._live_config()
            if self.mode != "single":
                result = run_rollback(clients, emulator.settings, config, self._trigger(reason))
                assert (result.mode, result.production_version) == ("single", self.production)
                self.rejected.add(self.candidate)
                self.mode, self.candidate = "single", None
                STATS["candidates rolled back"] += 1
                return
            expected = self._expected_rollback_target()
            if expected is None:
                with pytest.raises(NothingToDo, match="no known-good version"):
                    run_rollback(clients, emulator.settings, config, self._trigger(reason))
                assert self._live_config() == before
                STATS["rollbacks refused"] += 1
                return
            result = run_rollback(clients, emulator.settings, config, self._trigger(reason))
            assert result.production_version == expected, (self.served, self.rejected)
            self.rejected.add(self.production)
            self._took_over(expected)
            STATS["rollbacks to known-good"] += 1

        @precondition(lambda self: not self.failed_a_run)  # a Dagster run is slow: once per sequence
        @rule()
        def failed_run_before_the_endpoint(self):
            """A deploy run with a typo'd version fails at the registry; the failed-run sensor must
            see that the endpoint is as recorded and do nothing."""
            STATS["steps"] += 1
            before = self._live_config()
            config = {"endpoint_name": self.endpoint, "package_group": GROUP, "model_version": "no-such"}
            _, tick = failed_deploy_tick({"ops": {"deploy_version": {"config": config}}})
            assert isinstance(tick, dg.SkipReason), tick
            assert self._live_config() == before
            self.failed_a_run = True
            STATS["failed runs left alone"] += 1

        @invariant()
        def production_never_serves_a_rejected_version(self):
            if self.production is None:
                return
            package = _live_production_package(clients.sagemaker, self.endpoint)
            status = clients.sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"]
            assert status != REJECTED, f"production serves Rejected {package}"
            STATS["invariant checks"] += 1

        @invariant()
        def every_change_traces_to_a_run_with_a_reason_and_the_history_is_true(self):
            if self.production is None:
                return
            entries = self.history.entries()
            assert all(entry.run_id and entry.reason for entry in entries), entries
            current = self.history.current()
            assert current.endpoint_config_name == self._live_config()
            assert (current.production_version, current.mode) == (self.production, self.mode)
            STATS["invariant checks"] += 1

        def teardown(self):
            if getattr(self, "endpoint", None):
                clients.sagemaker.delete_endpoint(EndpointName=self.endpoint)

    return LifecycleSafety


def test_lifecycle_safety_holds_over_explored_sequences(safety_world, failed_deploy_tick):
    emulator, clients, model_url, broken_url, content_sha256 = safety_world
    machine = make_machine(emulator, clients, model_url, broken_url, failed_deploy_tick, content_sha256)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=STEPS_PER_SEQUENCE,
            deadline=None,
            database=None,  # nothing written into the checkout
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(f"\nlifecycle safety: {dict(STATS)}")
    assert STATS["sequences"] >= SEQUENCES and STATS["invariant checks"] > STATS["sequences"]
