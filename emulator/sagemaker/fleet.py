"""A running endpoint as the invoke hot path sees it: variants, their workers, the routing weights.

Everything here is immutable or swapped atomically (dict assignment), so the event loop reads it
without locks while control-plane threads build replacements.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from emulator.sagemaker.resources import DeployedVariant
from emulator.sagemaker.workers import (
    ArtifactStore,
    DeploymentError,
    Worker,
    start_workers,
    stop_workers,
    wait_all_healthy,
)


@dataclass(frozen=True)
class VariantFleet:
    name: str
    workers: tuple[Worker, ...]
    model_dir: Path
    log_dir: Path
    environment: dict[str, str]
    _turn: itertools.count = field(default_factory=itertools.count, compare=False)

    def next_port(self) -> int:
        """Round-robin across the variant's instances."""
        return self.workers[next(self._turn) % len(self.workers)].port


@dataclass(frozen=True)
class CaptureSettings:
    sampling_percentage: float
    bucket: str
    prefix: str
    capture_input: bool
    capture_output: bool


@dataclass(frozen=True)
class LiveEndpoint:
    name: str
    production: dict[str, VariantFleet]
    shadow: VariantFleet | None
    capture: CaptureSettings | None
    variant_names: tuple[str, ...]
    cumulative_weights: tuple[float, ...]
    # during a blue/green deployment: the green fleet and the share of requests it takes
    candidate: LiveEndpoint | None = None
    candidate_share: float = 0.0

    def route(self) -> LiveEndpoint:
        """The fleet (blue or green) one request runs on, chosen once so it finishes where it started."""
        if self.candidate is not None and random.random() < self.candidate_share:
            return self.candidate
        return self

    def choose_variant(self) -> VariantFleet | None:
        """Weighted random choice over production variants; None when every weight is 0."""
        total = self.cumulative_weights[-1]
        if total <= 0:
            return None
        index = bisect.bisect_right(self.cumulative_weights, random.random() * total)
        return self.production[self.variant_names[min(index, len(self.variant_names) - 1)]]

    def fleets(self) -> list[VariantFleet]:
        """This endpoint's own fleets (not a candidate's)."""
        return [*self.production.values(), *([self.shadow] if self.shadow else [])]


def routing_table(weights: dict[str, float]) -> dict:
    """The LiveEndpoint fields that encode production weights."""
    return {
        "variant_names": tuple(weights),
        "cumulative_weights": tuple(itertools.accumulate(weights.values())),
    }


def launch_variants(
    variants: Iterable[DeployedVariant], artifacts: ArtifactStore, log_root: Path
) -> dict[str, VariantFleet]:
    """Start every variant's instances and wait until all answer /ping; on any failure stop them all.

    Raises DeploymentError naming the variant that failed.
    """
    fleets: dict[str, VariantFleet] = {}
    try:
        for variant in variants:
            name = variant.name
            try:
                model_dir = artifacts.materialize(variant.model_data_url)
            except DeploymentError as exc:
                raise DeploymentError(f"variant {name!r}: {exc}") from None
            environment = variant.environment
            workers = start_workers(model_dir, variant.desired_instance_count, log_root / name, environment)
            fleets[name] = VariantFleet(name, tuple(workers), model_dir, log_root / name, environment)
        for fleet in fleets.values():
            try:
                wait_all_healthy(list(fleet.workers))
            except DeploymentError as exc:
                raise DeploymentError(f"variant {fleet.name!r}: {exc}") from None
    except BaseException:
        stop_fleets(fleets.values())
        raise
    return fleets


def resize(fleet: VariantFleet, count: int) -> tuple[VariantFleet, list[Worker]]:
    """A fleet with `count` healthy instances, and the surplus workers the caller stops after the swap."""
    if count <= len(fleet.workers):
        return replace(fleet, workers=fleet.workers[:count]), list(fleet.workers[count:])
    extra = start_workers(fleet.model_dir, count - len(fleet.workers), fleet.log_dir, fleet.environment)
    try:
        wait_all_healthy(extra)
    except BaseException:
        stop_workers(extra)
        raise
    return replace(fleet, workers=fleet.workers + tuple(extra)), []


def stop_fleets(fleets: Iterable[VariantFleet]) -> None:
    for fleet in fleets:
        stop_workers(list(fleet.workers))
