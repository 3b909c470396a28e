"""Dagster run-config classes generated from the library's pydantic configs.

The library configs (SimulationConfig, TrainingConfig) stay Dagster-free and are the single source of
fields and defaults; the Dagster classes mirror them for the launchpad, and `to_library` re-validates
with the library's constraints, so a bad value fails the run with the field's name.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

import dagster as dg
from pydantic import BaseModel, create_model

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

LibraryConfig = TypeVar("LibraryConfig", bound=BaseModel)


def _dagster_field(annotation, default):
    # Dagster config has no date type: dates travel as ISO strings.
    if annotation is date:
        return str, default.isoformat()
    return annotation, default


def dagster_config_for(library_cls: type[LibraryConfig], name: str) -> type[dg.Config]:
    fields = {}
    for field_name, info in library_cls.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default
        fields[field_name] = _dagster_field(info.annotation, default)
    dagster_cls = create_model(name, __base__=dg.Config, __doc__=library_cls.__doc__, **fields)

    def to_library(self) -> LibraryConfig:
        return library_cls.model_validate(self.model_dump())

    dagster_cls.to_library = to_library
    return dagster_cls


SimulationRunConfig = dagster_config_for(SimulationConfig, "SimulationRunConfig")
TrainingRunConfig = dagster_config_for(TrainingConfig, "TrainingRunConfig")
StreamStackRunConfig = dagster_config_for(StreamStackSpec, "StreamStackRunConfig")
TrafficRunConfig = dagster_config_for(TrafficConfig, "TrafficRunConfig")
DeployRunConfig = dagster_config_for(DeployConfig, "DeployRunConfig")
PromoteRunConfig = dagster_config_for(PromoteConfig, "PromoteRunConfig")
ShadowRunConfig = dagster_config_for(ShadowConfig, "ShadowRunConfig")
ABTrafficRunConfig = dagster_config_for(ABTrafficConfig, "ABTrafficRunConfig")
RollbackRunConfig = dagster_config_for(RollbackConfig, "RollbackRunConfig")
ApprovalRunConfig = dagster_config_for(ApprovalConfig, "ApprovalRunConfig")
