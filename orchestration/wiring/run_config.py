"""Dagster run-config classes generated from the library's pydantic configs.

The library configs (SimulationConfig, TrainingConfig) stay Dagster-free and are the single source of
fields, defaults and ranges; the Dagster classes mirror them for the Launchpad (each field's
description ends with its allowed range), and `to_library`, the first thing every op does with its
config, re-validates with the library's constraints: a bad value fails the run before any other work
with one line naming the field, the value and the allowed range.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, TypeVar, get_args, get_origin

import dagster as dg
from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

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

LibraryConfig = TypeVar("LibraryConfig", bound=BaseModel)

_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


class ConfigOutOfRange(dg.Failure):
    """A run's config broke a field's range: one line per field, no traceback to read."""


def allowed_values(info: FieldInfo) -> str:
    """The field's range in words, as the Launchpad shows it and the failure names it ('' if any)."""
    if get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(info.annotation))
    parts = []
    for constraint in info.metadata:
        for attribute, symbol in _BOUNDS.items():
            if getattr(constraint, attribute, None) is not None:
                parts.append(f"{symbol} {getattr(constraint, attribute)}")
        if getattr(constraint, "min_length", None) is not None:
            parts.append(f"at least {constraint.min_length} characters")
        if getattr(constraint, "max_length", None) is not None:
            parts.append(f"at most {constraint.max_length} characters")
        if getattr(constraint, "pattern", None) is not None:
            parts.append(f"matching {constraint.pattern}")
    return ", ".join(parts)


def _description(info: FieldInfo) -> str:
    allowed = allowed_values(info)
    return " — ".join(part for part in (info.description, allowed and f"allowed: {allowed}") if part)


def _dagster_field(annotation, default):
    # Dagster config has no date type: dates travel as ISO strings.
    if annotation is date:
        return str, default.isoformat()
    return annotation, default


def out_of_range_message(library_cls: type[BaseModel], error: ValidationError) -> str:
    """One line: each bad field with its value, what is wrong, and what is allowed."""
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"])
        info = library_cls.model_fields.get(str(item["loc"][0])) if item["loc"] else None
        allowed = allowed_values(info) if info is not None else ""
        what = f"is not allowed (allowed: {allowed})" if allowed else f"is not valid: {item['msg']}"
        problems.append(f"{name} = {item.get('input')!r} {what}")
    return f"{library_cls.__name__}: " + "; ".join(problems)


def dagster_config_for(library_cls: type[LibraryConfig], name: str) -> type[dg.Config]:
    fields = {}
    for field_name, info in library_cls.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default
        annotation, default = _dagster_field(info.annotation, default)
        fields[field_name] = (annotation, Field(default, description=_description(info) or None))
    dagster_cls = create_model(name, __base__=dg.Config, __doc__=library_cls.__doc__, **fields)

    def to_library(self) -> LibraryConfig:
        try:
            return library_cls.model_validate(self.model_dump())
        except ValidationError as error:
            raise ConfigOutOfRange(out_of_range_message(library_cls, error), allow_retries=False) from None

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
RedriveRunConfig = dagster_config_for(RedriveConfig, "RedriveRunConfig")
BatchFailureRunConfig = dagster_config_for(BatchFailureConfig, "BatchFailureRunConfig")
