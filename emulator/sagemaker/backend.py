"""SageMaker hosting state and semantics, no HTTP: models, endpoint configs, endpoints and their fleets.

Records (emulator.sagemaker.resources) live in memory (the hot path reads `live` and statuses
without I/O) and are written through to SQLite on every change. Slow work (starting workers) runs
in background threads, like AWS's asynchronous Creating/Updating states.

A stored row the emulator cannot read any more is kept as it is: an endpoint whose row is damaged
is listed as Failed with a FailureReason saying so, a damaged model or endpoint config answers every
use with an error naming the damage; deleting and creating the resource again replaces the row.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emulator.protocol.errors import AwsError, validation_exception
from emulator.s3.backend import S3Backend, parse_s3_uri
from emulator.sagemaker import quotas
from emulator.sagemaker.deploy import AlarmState, policy_for
from emulator.sagemaker.fleet import (
    CaptureSettings,
    LiveEndpoint,
    VariantFleet,
    launch_variants,
    resize,
    routing_table,
    stop_fleets,
)
from emulator.sagemaker.registry import ModelRegistry
from emulator.sagemaker.resources import (
    BlueGreenPolicy,
    Container,
    DataCapture,
    DeployedVariant,
    Deployment,
    Endpoint,
    EndpointConfig,
    EndpointConfigSpec,
    EndpointSummary,
    Model,
    PendingDeployment,
)
from emulator.sagemaker.workers import ArtifactStore, DeploymentError, stop_workers
from emulator.state import Database
from emulator.typed_json import from_json, to_json

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
TABLE = "sagemaker_hosting"
SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (kind TEXT, name TEXT, body TEXT, PRIMARY KEY (kind, name));"
_TYPES: dict[str, type] = {"model": Model, "config": EndpointConfig, "endpoint": Endpoint}
_ARN_KINDS = {"model": "model", "config": "endpoint-config", "endpoint": "endpoint"}
_LABELS = {"model": "model", "config": "endpoint configuration", "endpoint": "endpoint"}


@dataclass(frozen=True)
class VariantChange:
    """One entry of UpdateEndpointWeightsAndCapacities; None leaves that setting as it is."""

    variant_name: str
    desired_weight: float | None
    desired_instance_count: int | None


class SageMakerBackend:
    def __init__(
        self,
        db: Database,
        s3: S3Backend,
        root: Path,
        registry: ModelRegistry,
        alarm_state: AlarmState,
        region: str = "us-east-1",
    ) -> None:
        """`alarm_state`: CloudWatch's state of an alarm by name (None if unknown), for auto-rollback."""
        self._db = db
        self._region = region
        self._registry = registry
        self._alarm_state = alarm_state
        self._artifacts = ArtifactStore(s3, root / "models")
        self._log_root = root / "logs"
        self._lock = threading.RLock()
        db.create_tables(SCHEMA)
        self._records: dict[str, dict[str, Any]] = {kind: {} for kind in _TYPES}
        self._damaged: dict[str, dict[str, str]] = {kind: {} for kind in _TYPES}  # name -> what is wrong
        for row in db.query(f"SELECT kind, name, body FROM {TABLE}"):
            self._load(row["kind"], row["name"], row["body"])
        self.live: dict[str, LiveEndpoint] = {}  # endpoints that can take traffic, read by the hot path
        self._closed = False

    def _load(self, kind: str, name: str, body: str) -> None:
        if kind not in _TYPES:
            log.warning("ignoring a stored SageMaker row of unknown kind %r (%r)", kind, name)
            return
        try:
            self._records[kind][name] = from_json(_TYPES[kind], body)
            return
        except Exception as exc:  # whatever the damage: the row stays as it is, the resource says so
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        log.warning("the stored %s %r is damaged: %s", _LABELS[kind], name, problem)
        if kind != "endpoint":
            self._damaged[kind][name] = problem
            return
        now = time.time()
        self._records[kind][name] = Endpoint(
            name,
            self.arn("endpoint", name),
            "",
            "Failed",
            now,
            now,
            Deployment((), (), None),
            failure_reason=(
                f"The emulator could not read this endpoint's stored state ({problem}); delete the "
                "endpoint and create it again."
            ),
        )

    # ---- records -------------------------------------------------------------------------------------

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self._region}:{ACCOUNT}:{_ARN_KINDS[kind]}/{name.lower()}"

    def _get(self, kind: str, name: str) -> Any:
        record = self._records[kind].get(name)
        if record is None and name in self._damaged[kind]:
            raise validation_exception(
                f'{_LABELS[kind].capitalize()} "{self.arn(kind, name)}" cannot be used: the emulator could '
                f"not read its stored state ({self._damaged[kind][name]}); delete it and create it again."
            )
        if record is None:
            raise validation_exception(f'Could not find {_LABELS[kind]} "{self.arn(kind, name)}".')
        return record

    def _create(self, kind: str, name: str, record: Any) -> None:
        if name in self._records[kind]:
            raise validation_exception(
                f'Cannot create already existing {_LABELS[kind]} "{self.arn(kind, name)}".'
            )
        self._records[kind][name] = record
        self._damaged[kind].pop(name, None)
        self._save(kind, name)

    def _save(self, kind: str, name: str) -> None:
        with self._db.transaction() as conn:
            body = to_json(self._records[kind][name])
            conn.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?)", (kind, name, body))

    def _delete(self, kind: str, name: str) -> None:
        if self._damaged[kind].pop(name, None) is None:
            self._get(kind, name)
            del self._records[kind][name]
        with self._db.transaction() as conn:
            conn.execute(f"DELETE FROM {TABLE} WHERE kind=? AND name=?", (kind, name))

    # ---- models --------------------------------------------------------------------------------------

    def create_model(self, name: str, container: Container, execution_role_arn: str | None) -> Model:
        if container.model_package_name:  # as SageMaker does: the package supplies image and data
            package = self._registry.container_for(container.model_package_name)
            container = replace(
                container,
                image=container.image or package.image,
                model_data_url=container.model_data_url or package.model_data_url,
                environment={**package.environment, **container.environment},
            )
        if not container.model_data_url:
            raise validation_exception(
                "PrimaryContainer (or Containers[0]) needs Image and ModelDataUrl, or a ModelPackageName"
            )
        try:
            parse_s3_uri(container.model_data_url)
        except ValueError as exc:
            raise validation_exception(f"PrimaryContainer.ModelDataUrl: {exc}") from None
        model = Model(name, self.arn("model", name), container, execution_role_arn, time.time())
        with self._lock:
            self._create("model", name, model)
        return model

    def describe_model(self, name: str) -> Model:
        with self._lock:
            return self._get("model", name)

    def delete_model(self, name: str) -> None:
        with self._lock:
            self._delete("model", name)

    # ---- endpoint configs ------------------------------------------------------------------------------

    def create_endpoint_config(self, name: str, spec: EndpointConfigSpec) -> EndpointConfig:
        config = EndpointConfig(name, self.arn("config", name), spec, time.time())
        with self._lock:
            for variant in spec.production + spec.shadow:
                self._get("model", variant.model_name)
            self._create("config", name, config)
        return config

    def describe_endpoint_config(self, name: str) -> EndpointConfig:
        with self._lock:
            return self._get("config", name)

    def delete_endpoint_config(self, name: str) -> None:
        with self._lock:
            self._delete("config", name)

    def production_capacity(self, config_name: str) -> int:
        """The production instance count of an endpoint config: what blue/green step sizes refer to."""
        with self._lock:
            return sum(v.initial_instance_count for v in self._get("config", config_name).spec.production)

    # ---- endpoints ------------------------------------------------------------------------------------

    def _snapshot(self, config_name: str) -> Deployment:
        """What an endpoint runs, resolved now so later model/config deletions cannot break it."""
        spec = self._get("config", config_name).spec

        def resolve(variant) -> DeployedVariant:
            container = self._get("model", variant.model_name).container
            weight, count = variant.initial_weight, variant.initial_instance_count
            return DeployedVariant(
                variant.name,
                variant.model_name,
                container.model_data_url,
                container.image,
                dict(container.environment),
                variant.instance_type,
                weight,
                weight,
                count,
                count,
            )

        return Deployment(
            tuple(map(resolve, spec.production)), tuple(map(resolve, spec.shadow)), spec.data_capture
        )

    def _check_quotas(self, snapshot: Deployment) -> None:
        needs = quotas.instances_by_type(snapshot.variants())
        quotas.check(sum(needs.values()), needs, quotas.in_use(self._records["endpoint"].values()))

    def create_endpoint(self, name: str, config_name: str) -> str:
        with self._lock:
            snapshot = self._snapshot(config_name)
            if name not in self._records["endpoint"]:
                self._check_quotas(snapshot)
            now = time.time()
            record = Endpoint(name, self.arn("endpoint", name), config_name, "Creating", now, now, snapshot)
            self._create("endpoint", name, record)
        self._in_background(lambda: self._bring_up(record))
        return record.arn

    def _bring_up(self, record: Endpoint) -> None:
        try:
            fleets = self._launch(record.name, record.deployed)
        except DeploymentError as exc:
            self._finish(record, "Failed", str(exc))
            return
        with self._lock:
            if self._closed or not self._current(record):  # deleted (or shut down) while we were starting
                stop_fleets(fleets.values())
                return
            self.live[record.name] = self._live(record.name, record.deployed, fleets)
            self._finish(record, "InService", None)

    def _current(self, record: Endpoint) -> bool:
        return self._records["endpoint"].get(record.name) is record

    def _launch(self, name: str, deployment: Deployment) -> dict[str, VariantFleet]:
        return launch_variants(deployment.variants(), self._artifacts, self._log_root / name)

    def _live(self, name: str, deployment: Deployment, fleets: dict[str, VariantFleet]) -> LiveEndpoint:
        production = {v.name: fleets[v.name] for v in deployment.production}
        shadow = [fleets[v.name] for v in deployment.shadow]
        weights = {v.name: v.current_weight for v in deployment.production}
        return LiveEndpoint(
            name,
            production,
            shadow[0] if shadow else None,
            _capture_settings(deployment.data_capture),
            **routing_table(weights),
        )

    def _finish(self, record: Endpoint, status: str, failure: str | None) -> None:
        with self._lock:
            if self._closed or not self._current(record):  # after shutdown the state is closed too
                return
            record.status = status
            record.last_modified_time = time.time()
            record.failure_reason = failure
            self._save("endpoint", record.name)

    def describe_endpoint(self, name: str) -> Endpoint:
        with self._lock:
            return copy.deepcopy(self._get("endpoint", name))

    def status_of(self, name: str) -> str | None:
        record = self._records["endpoint"].get(name)
        return record.status if record else None

    def list_endpoints(self, name_contains: str, status: str | None) -> list[EndpointSummary]:
        with self._lock:
            records = list(self._records["endpoint"].values())
        return [
            EndpointSummary(r.name, r.arn, r.creation_time, r.last_modified_time, r.status)
            for r in records
            if name_contains in r.name and status in (None, r.status)
        ]

    def delete_endpoint(self, name: str) -> None:
        with self._lock:
            self._delete("endpoint", name)
            live = self.live.pop(name, None)
        if live:
            self._in_background(lambda: stop_fleets(_all_fleets(live)))

    def _require_updatable(self, name: str) -> Endpoint:
        record = self._get("endpoint", name)
        if record.status != "InService":
            raise validation_exception(f'Cannot update in-progress endpoint "{record.arn}".')
        return record

    def update_endpoint(self, name: str, config_name: str, deployment: BlueGreenPolicy | None) -> str:
        with self._lock:
            snapshot = self._snapshot(config_name)
        policy = policy_for(deployment, snapshot.production_capacity(), self._alarm_state)
        with self._lock:
            record = self._require_updatable(name)
            self._check_quotas(snapshot)
            record.status = "Updating"
            record.last_modified_time = time.time()
            if deployment:
                record.last_deployment_config = deployment
            record.pending = PendingDeployment(config_name, time.time(), snapshot.production)
            self._save("endpoint", name)

        def run() -> None:
            try:
                fleets = self._launch(name, snapshot)
            except DeploymentError as exc:  # AWS rolls back: the old fleet keeps serving
                self._end_update(record, f"Update to {config_name!r} failed: {exc}")
                return
            green = self._live(name, snapshot, fleets)
            with self._lock:
                blue = self.live.get(name)
                if not self._current(record) or blue is None:
                    stop_fleets(fleets.values())
                    return
            reason = policy.shift(blue, green, _Rollout(self, record, blue, green))
            if reason is None:
                with self._lock:
                    record.config_name = config_name
                    record.deployed = snapshot
            self._end_update(record, reason and f"Rolled back the update to {config_name!r}: {reason}")

        self._in_background(run)
        return record.arn

    def _end_update(self, record: Endpoint, failure: str | None) -> None:
        with self._lock:
            record.pending = None
        self._finish(record, "InService", failure)

    def _publish(self, record: Endpoint, live: LiveEndpoint, green_share: float, phase: str) -> bool:
        """Route the endpoint's traffic through `live` if it is still `record`; False if it is gone."""
        with self._lock:
            if not self._current(record):
                return False
            self.live[record.name] = live
            if record.pending:
                record.pending.share, record.pending.phase = green_share, phase
            return True

    def update_weights_and_capacities(self, name: str, changes: list[VariantChange]) -> str:
        with self._lock:
            record = self._require_updatable(name)
            variants = {v.name: v for v in record.deployed.variants()}
            for change in changes:
                if change.variant_name not in variants:
                    raise validation_exception(
                        f"The variant name {change.variant_name!r} is not present in endpoint {name!r}; "
                        f"variants: {sorted(variants)}"
                    )
            counts = {v.name: v.desired_instance_count for v in record.deployed.variants()}
            counts.update(
                (c.variant_name, c.desired_instance_count) for c in changes if c.desired_instance_count
            )
            delta = quotas.instances_by_type(
                replace(v, desired_instance_count=counts[v.name] - v.desired_instance_count)
                for v in record.deployed.variants()
            )
            current = sum(v.desired_instance_count for v in record.deployed.variants())
            used = quotas.in_use(self._records["endpoint"].values())
            quotas.check(sum(counts.values()), delta, used, current)
            for change in changes:
                variant = variants[change.variant_name]
                if change.desired_weight is not None:
                    variant.desired_weight = change.desired_weight
                if change.desired_instance_count is not None:
                    variant.desired_instance_count = change.desired_instance_count
            record.status = "Updating"
            self._save("endpoint", name)
        self._in_background(lambda: self._apply_capacity(record))
        return record.arn

    def _apply_capacity(self, record: Endpoint) -> None:
        deployment = record.deployed
        fleets = {fleet.name: fleet for fleet in self.live[record.name].fleets()}
        surplus = []
        try:
            for variant in deployment.variants():
                fleets[variant.name], extra = resize(fleets[variant.name], variant.desired_instance_count)
                surplus += extra
        except DeploymentError as exc:
            self._finish(record, "InService", f"Capacity update failed: {exc}")
            return
        with self._lock:
            for variant in deployment.variants():
                variant.current_weight = variant.desired_weight
                variant.current_instance_count = len(fleets[variant.name].workers)
            if self._current(record):
                self.live[record.name] = self._live(record.name, deployment, fleets)
        self._finish(record, "InService", None)
        stop_workers(surplus)

    # ---- lifecycle ------------------------------------------------------------------------------------

    def _in_background(self, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("background SageMaker work failed")

        threading.Thread(target=run, daemon=True).start()

    def begin_restore(self) -> list[Endpoint]:
        """After a restart: every endpoint that was serving is Creating again (what DescribeEndpoint says
        until `restore` brought it up); an interrupted update restarts on the fleet that was serving."""
        with self._lock:
            records = [r for r in self._records["endpoint"].values() if r.status != "Failed"]
            for record in records:
                record.status = "Creating"
                record.pending = None
        return records

    def restore(self, records: list[Endpoint]) -> None:
        """Bring `records` (from begin_restore) back to InService, in parallel; an endpoint over a quota
        or whose model cannot be deployed any more is Failed with the reason."""
        used: Counter[str] = Counter()
        launchable = []
        for record in records:
            needs = quotas.instances_by_type(record.deployed.variants())
            try:
                quotas.check(sum(needs.values()), needs, used)
            except AwsError as err:
                self._finish(record, "Failed", f"{err.code}: {err.message}")
                continue
            used += needs
            launchable.append(record)
        with ThreadPoolExecutor(max_workers=max(1, len(launchable))) as pool:
            list(pool.map(self._bring_up_restored, launchable))

    def _bring_up_restored(self, record: Endpoint) -> None:
        try:
            self._bring_up(record)
        except Exception as exc:  # one endpoint's trouble must not stop the others
            log.exception("restoring endpoint %s failed", record.name)
            self._finish(record, "Failed", f"Restoring the endpoint failed: {type(exc).__name__}")

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            live, self.live = list(self.live.values()), {}
        for endpoint in live:
            stop_fleets(_all_fleets(endpoint))


class _Rollout:
    """The backend side of a deployment policy: what invocations see, what DescribeEndpoint shows."""

    def __init__(
        self, backend: SageMakerBackend, record: Endpoint, blue: LiveEndpoint, green: LiveEndpoint
    ) -> None:
        self._backend, self._record = backend, record
        self._blue, self._green = blue, green

    def shift_to(self, green_share: float, phase: str) -> bool:
        split = replace(self._blue, candidate=self._green, candidate_share=green_share)
        return self._backend._publish(self._record, split, green_share, phase)

    def promote(self) -> bool:
        # green serves alone; blue's resources are being terminated ("Deleting": the model's word for it)
        return self._backend._publish(self._record, self._green, 1.0, "Deleting")

    def revert(self) -> None:
        self._backend._publish(self._record, self._blue, 0.0, "Deleting")


def _all_fleets(live: LiveEndpoint) -> list[VariantFleet]:
    """Blue's fleets and, mid-deployment, green's."""
    return live.fleets() + (live.candidate.fleets() if live.candidate else [])


def _capture_settings(capture: DataCapture | None) -> CaptureSettings | None:
    if not capture or not capture.enabled:
        return None
    bucket, _, prefix = capture.destination_s3_uri.removeprefix("s3://").partition("/")
    return CaptureSettings(
        float(capture.sampling_percentage),
        bucket,
        prefix.strip("/"),
        "Input" in capture.modes,
        "Output" in capture.modes,
    )
