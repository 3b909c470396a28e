"""What was deployed where, newest last: one typed record per endpoint change, kept in S3.

The history lives next to the artifacts (s3://<bucket>/deployments/<endpoint>.json), so it is shared by
every process that changes or watches the endpoint (jobs, sensors, the CLI), locally and on AWS. It is
how rollback finds the last known-good version and how sensors know the endpoint's layout. Every
entry says which run made the change and why (a sensor's decision, a person's launch).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from orchestration.settings import Settings


@dataclass(frozen=True)
class Trigger:
    """Who asked for an endpoint change and why: the run that made it, and its reason."""

    run_id: str = ""
    reason: str = ""


UNTRACED = Trigger()  # a change made outside any run (tests, the bench)


@dataclass(frozen=True)
class RolloutResult:
    """One change of an endpoint's layout, as it ended."""

    action: str  # deploy | shadow | set_traffic | promote | rollback
    endpoint_name: str
    outcome: str  # deployed | rolled_back | unchanged
    mode: str  # single | ab | shadow: the layout the endpoint has after this action
    endpoint_config_name: str
    previous_config_name: str | None
    production_version: str
    production_arn: str
    candidate_version: str | None = None
    candidate_arn: str | None = None
    candidate_weight: float | None = None
    failure_reason: str | None = None
    rolled_back_arn: str | None = None  # a rollback: the version it took off the endpoint
    override: str | None = None  # why a Rejected version was deployed anyway
    run_id: str | None = None  # the run that made the change
    reason: str | None = None  # why it was asked for
    seconds: float = 0.0
    at: str = ""  # ISO time the change was recorded

    @property
    def took_effect(self) -> bool:
        """Rolled-back changes left the endpoint as it was."""
        return self.outcome in ("deployed", "unchanged")

    def as_metadata(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}

    @classmethod
    def from_dict(cls, entry: dict) -> RolloutResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in entry.items() if k in known})


class DeploymentHistory:
    """The endpoint's changes, as one JSON list per endpoint in S3."""

    def __init__(self, s3, settings: Settings, endpoint: str):
        self.s3, self.bucket, self.key = s3, settings.bucket, f"deployments/{endpoint}.json"

    def entries(self) -> list[RolloutResult]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return []
        return [RolloutResult.from_dict(entry) for entry in json.loads(body)]

    def append(self, result: RolloutResult) -> RolloutResult:
        """Record `result` with the time it is recorded; returns the recorded entry."""
        recorded = RolloutResult.from_dict({**asdict(result), "at": datetime.now(tz=UTC).isoformat()})
        entries = [asdict(entry) for entry in self.entries()] + [asdict(recorded)]
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(entries, indent=1).encode())
        return recorded

    def current(self) -> RolloutResult | None:
        """The layout the endpoint has now: the last entry that took effect."""
        return next((entry for entry in reversed(self.entries()) if entry.took_effect), None)

    def last_known_good(self, is_rejected: Callable[[str], bool]) -> str | None:
        """The newest version that served production before the current one and was never rolled
        back (nor Rejected in the registry, which `is_rejected(arn)` asks); None if there is none."""
        entries = self.entries()
        current = next((entry for entry in reversed(entries) if entry.took_effect), None)
        rolled_back = {entry.rolled_back_arn for entry in entries if entry.rolled_back_arn}
        for arn in reversed(self.production_arns()):
            if current is not None and arn == current.production_arn:
                continue
            if arn not in rolled_back and not is_rejected(arn):
                return arn
        return None

    def production_arns(self) -> list[str]:
        """Package ARNs of the versions that served production, in the order they took over."""
        served: list[str] = []
        for entry in self.entries():
            if entry.outcome == "deployed" and (not served or served[-1] != entry.production_arn):
                served.append(entry.production_arn)
        return served
