"""The Dagster run-config classes mirror the library's pydantic configs: same fields, same defaults, and
`to_library` re-validates with the library's constraints."""

from datetime import date

import pytest

from orchestration.data.simulation import SimulationConfig
from orchestration.endpoint.actions import (
    ABTrafficConfig,
    ApprovalConfig,
    DeployConfig,
    PromoteConfig,
    RollbackConfig,
    ShadowConfig,
)
from orchestration.model.training import TrainingConfig
from orchestration.stream.batch_failures import BatchFailureConfig
from orchestration.stream.redrive import RedriveConfig
from orchestration.stream.replay import TrafficConfig
from orchestration.stream.stack import StreamStackSpec
from orchestration.wiring import run_config

PAIRS = [
    (SimulationConfig, run_config.SimulationRunConfig),
    (TrainingConfig, run_config.TrainingRunConfig),
    (StreamStackSpec, run_config.StreamStackRunConfig),
    (TrafficConfig, run_config.TrafficRunConfig),
    (DeployConfig, run_config.DeployRunConfig),
    (PromoteConfig, run_config.PromoteRunConfig),
    (ShadowConfig, run_config.ShadowRunConfig),
    (ABTrafficConfig, run_config.ABTrafficRunConfig),
    (RollbackConfig, run_config.RollbackRunConfig),
    (ApprovalConfig, run_config.ApprovalRunConfig),
    (RedriveConfig, run_config.RedriveRunConfig),
    (BatchFailureConfig, run_config.BatchFailureRunConfig),
]


@pytest.mark.parametrize(("library", "dagster"), PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_same_fields_and_defaults(library, dagster):
    assert list(dagster.model_fields) == list(library.model_fields)
    for name, info in library.model_fields.items():
        if info.is_required():
            assert dagster.model_fields[name].is_required(), name
            continue
        default = info.get_default(call_default_factory=True)
        expected = default.isoformat() if isinstance(default, date) else default
        assert dagster.model_fields[name].get_default(call_default_factory=True) == expected, name


@pytest.mark.parametrize(
    ("library", "dagster"),
    [p for p in PAIRS if p[0] not in (ApprovalConfig, RedriveConfig)],  # these need a choice made
    ids=lambda p: p.__name__,
)
def test_defaults_convert_to_the_library_config(library, dagster):
    assert dagster().to_library() == library()


def test_to_library_fails_with_one_line_naming_field_value_and_range():
    with pytest.raises(run_config.ConfigOutOfRange) as caught:
        run_config.DeployRunConfig(canary_percent=150).to_library()
    assert (
        caught.value.description == "DeployConfig: canary_percent = 150 is not allowed (allowed: ≥ 1, ≤ 50)"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no pydantic trace
    with pytest.raises(run_config.ConfigOutOfRange) as caught:
        run_config.ABTrafficRunConfig(candidate_weight=1.5, endpoint_name="bad_name!").to_library()
    message = caught.value.description
    assert "\n" not in message
    assert "endpoint_name = 'bad_name!' is not allowed (allowed: matching " in message
    assert "candidate_weight = 1.5 is not allowed (allowed: > 0, < 1)" in message
    strategy = run_config.DeployRunConfig.to_fields_dict()["strategy"].description
    assert strategy.endswith("allowed: one of ALL_AT_ONCE, CANARY, LINEAR")  # the schema enforces it
    approval = run_config.ApprovalRunConfig(model_version="m-1", decision="Rejected").to_library()
    assert approval == ApprovalConfig(model_version="m-1", decision="Rejected")


ENDPOINT_JOB_CONFIGS = [
    pair
    for pair in PAIRS
    if pair[0].__module__ == "orchestration.endpoint.actions"
    or pair[0] in (RedriveConfig, BatchFailureConfig)
]


@pytest.mark.parametrize(("library", "dagster"), ENDPOINT_JOB_CONFIGS, ids=lambda p: p.__name__)
def test_every_endpoint_job_field_has_a_description_and_its_range_in_the_launchpad(library, dagster):
    fields = dagster.to_fields_dict()  # the config schema the Launchpad shows
    for name, info in library.model_fields.items():
        description = fields[name].description
        assert description and description.startswith(info.description), name
        allowed = run_config.allowed_values(info)
        if allowed:
            assert description.endswith(f"allowed: {allowed}"), (name, description)
    bounded = [name for name, info in library.model_fields.items() if run_config.allowed_values(info)]
    assert bounded  # every endpoint job has ranges to show


def test_a_redrive_that_chooses_nothing_fails_saying_what_to_set():
    with pytest.raises(run_config.ConfigOutOfRange, match="choose which letters to re-send: reason_kinds"):
        run_config.RedriveRunConfig().to_library()
    chosen = run_config.RedriveRunConfig(reason_kinds=["not JSON"]).to_library()
    assert chosen == RedriveConfig(reason_kinds=["not JSON"]) and chosen.dry_run  # a dry run unless told
