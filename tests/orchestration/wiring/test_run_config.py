"""The Dagster run-config classes mirror the library's pydantic configs: same fields, same defaults, and
`to_library` re-validates with the library's constraints."""

from datetime import date

import pytest
from pydantic import ValidationError

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
    ("library", "dagster"), [p for p in PAIRS if p[0] is not ApprovalConfig], ids=lambda p: p.__name__
)
def test_defaults_convert_to_the_library_config(library, dagster):
    assert dagster().to_library() == library()


def test_to_library_revalidates_with_the_field_name():
    with pytest.raises(ValidationError, match="candidate_weight"):
        run_config.ABTrafficRunConfig(candidate_weight=1.5).to_library()
    with pytest.raises(ValidationError, match="endpoint_name"):
        run_config.DeployRunConfig(endpoint_name="bad_name!").to_library()
    approval = run_config.ApprovalRunConfig(model_version="m-1", decision="Rejected").to_library()
    assert approval == ApprovalConfig(model_version="m-1", decision="Rejected")
