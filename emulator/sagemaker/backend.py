"""SageMaker hosting state and semantics, no HTTP: models, endpoint configs, endpoints and their fleets.

Records live in memory (the hot path reads `live` and statuses without I/O) and are written through
to SQLite on every change. Slow work (starting workers) runs in background threads, like AWS's
asynchronous Creating/Updating states.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from emulator.protocol.errors import validation_exception
from emulator.s3.backend import S3Backend, parse_s3_uri
from emulator.sagemaker.deploy import policy_for
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
from emulator.sagemaker.validation import (
    check_data_capture,
    check_instance_count,
    check_variants,
    check_weight,
)
from emulator.sagemaker.workers import ArtifactStore, DeploymentError, stop_workers
from emulator.state import Database

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
_SCHEMA = "CREATE TABLE IF NOT EXISTS sagemaker (kind TEXT, name TEXT, body TEXT, PRIMARY KEY (kind, name));"
_KINDS = {"model": "model", "config": "endpoint-config", "endpoint": "endpoint"}
_LABELS = {"model": "model", "config": "endpoint configuration", "endpoint": "endpoint"}


class SageMakerBackend:
    def __init__(
        self,
        db: Database,
        s3: S3Backend,
        root: Path,
        registry: ModelRegistry,
        alarm_state: Callable[[str], str | None],
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
        db.create_tables(_SCHEMA)
        self._records: dict[str, dict[str, dict]] = {kind: {} for kind in _KINDS}
        for row in db.query("SELECT kind, name, body FROM sagemaker"):
            self._records[row["kind"]][row["name"]] = json.loads(row["body"])
        self.live: dict[str, LiveEndpoint] = {}  # endpoints that can take traffic, read by the hot path

    # ---- records -------------------------------------------------------------------------------------

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self._region}:{ACCOUNT}:{_KINDS[kind]}/{name.lower()}"

    def _get(self, kind: str, name: str) -> dict:
        record = self._records[kind].get(name)
        if record is None:
            raise validation_exception(f'Could not find {_LABELS[kind]} "{self.arn(kind, name)}".')
        return record

    def _create(self, kind: str, name: str, record: dict) -> None:
        if name in self._records[kind]:
            raise validation_exception(
                f'Cannot create already existing {_LABELS[kind]} "{self.arn(kind, name)}".'
            )
        self._records[kind][name] = record
        self._save(kind, name)

    def _save(self, kind: str, name: str) -> None:
        with self._db.transaction() as conn:
            body = json.dumps(self._records[kind][name])
            conn.execute("INSERT OR REPLACE INTO sagemaker VALUES (?, ?, ?)", (kind, name, body))

    def _delete(self, kind: str, name: str) -> dict:
        record = self._get(kind, name)
        del self._records[kind][name]
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM sagemaker WHERE kind=? AND name=?", (kind, name))
        return record

    # ---- models --------------------------------------------------------------------------------------

    def create_model(self, params: dict) -> dict:
        name = params.get("ModelName", "")
        params = copy.deepcopy(params)
        containers = params.pop("Containers", None) or []
        if len(containers) > 1:
            raise validation_exception(
                f"Containers has {len(containers)} entries; this emulator serves single-container models"
            )
        container = params.setdefault("PrimaryContainer", containers[0] if containers else {})
        if container.get("ModelPackageName"):  # as SageMaker does: the package supplies image and data
            package = self._registry.container_for(container["ModelPackageName"])
            environment = {**package.get("Environment", {}), **container.get("Environment", {})}
            container.update({**package, **container, "Environment": environment})
        if not container.get("ModelDataUrl"):
            raise validation_exception(
                "PrimaryContainer (or Containers[0]) needs Image and ModelDataUrl, or a ModelPackageName"
            )
        try:
            parse_s3_uri(container["ModelDataUrl"])
        except ValueError as exc:
            raise validation_exception(f"PrimaryContainer.ModelDataUrl: {exc}") from None
        with self._lock:
            record = {
                **params,
                "ModelArn": self.arn("model", name),
                "CreationTime": time.time(),
            }
            self._create("model", name, record)
        return {"ModelArn": record["ModelArn"]}

    def describe_model(self, name: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._get("model", name))

    def delete_model(self, name: str) -> None:
        with self._lock:
            self._delete("model", name)

    # ---- endpoint configs ------------------------------------------------------------------------------

    def create_endpoint_config(self, params: dict) -> dict:
        name = params.get("EndpointConfigName", "")
        production = params.get("ProductionVariants") or []
        shadow = params.get("ShadowProductionVariants") or []
        check_variants(production, shadow)
        check_data_capture(params.get("DataCaptureConfig"))
        with self._lock:
            for variant in production + shadow:
                self._get("model", variant["ModelName"])
            record = {
                **copy.deepcopy(params),
                "EndpointConfigArn": self.arn("config", name),
                "CreationTime": time.time(),
            }
            self._create("config", name, record)
        return {"EndpointConfigArn": record["EndpointConfigArn"]}

    def describe_endpoint_config(self, name: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._get("config", name))

    def delete_endpoint_config(self, name: str) -> None:
        with self._lock:
            self._delete("config", name)

    # ---- endpoints ------------------------------------------------------------------------------------

    def _snapshot(self, config_name: str) -> dict:
        """What an endpoint runs, resolved now so later model/config deletions cannot break it."""
        config = self._get("config", config_name)

        def resolve(variant: dict) -> dict:
            container = self._get("model", variant["ModelName"])["PrimaryContainer"]
            weight = float(variant.get("InitialVariantWeight", 1.0))
            count = variant["InitialInstanceCount"]
            return {
                "VariantName": variant["VariantName"],
                "ModelName": variant["ModelName"],
                "ModelDataUrl": container["ModelDataUrl"],
                "Image": container.get("Image", ""),
                "Environment": container.get("Environment", {}),
                "InstanceType": variant.get("InstanceType"),
                "CurrentWeight": weight,
                "DesiredWeight": weight,
                "CurrentInstanceCount": count,
                "DesiredInstanceCount": count,
            }

        return {
            "ProductionVariants": [resolve(v) for v in config["ProductionVariants"]],
            "ShadowProductionVariants": [resolve(v) for v in config.get("ShadowProductionVariants") or []],
            "DataCaptureConfig": config.get("DataCaptureConfig"),
        }

    def create_endpoint(self, name: str, config_name: str) -> dict:
        with self._lock:
            snapshot = self._snapshot(config_name)
            now = time.time()
            record = {
                "EndpointName": name,
                "EndpointArn": self.arn("endpoint", name),
                "EndpointConfigName": config_name,
                "EndpointStatus": "Creating",
                "CreationTime": now,
                "LastModifiedTime": now,
                "Deployed": snapshot,
            }
            self._create("endpoint", name, record)
        self._in_background(lambda: self._bring_up(name, record))
        return {"EndpointArn": record["EndpointArn"]}

    def _bring_up(self, name: str, record: dict) -> None:
        try:
            fleets = self._launch(name, record["Deployed"])
        except DeploymentError as exc:
            self._finish(name, record, "Failed", str(exc))
            return
        with self._lock:
            if self._records["endpoint"].get(name) is not record:  # deleted while we were starting
                stop_fleets(fleets.values())
                return
            self.live[name] = self._live(name, record["Deployed"], fleets)
            self._finish(name, record, "InService", None)

    def _launch(self, name: str, snapshot: dict) -> dict[str, VariantFleet]:
        variants = snapshot["ProductionVariants"] + snapshot["ShadowProductionVariants"]
        return launch_variants(variants, self._artifacts, self._log_root / name)

    def _live(self, name: str, snapshot: dict, fleets: dict[str, VariantFleet]) -> LiveEndpoint:
        production = {v["VariantName"]: fleets[v["VariantName"]] for v in snapshot["ProductionVariants"]}
        shadow = [fleets[v["VariantName"]] for v in snapshot["ShadowProductionVariants"]]
        weights = {v["VariantName"]: v["CurrentWeight"] for v in snapshot["ProductionVariants"]}
        return LiveEndpoint(
            name,
            production,
            shadow[0] if shadow else None,
            _capture_settings(snapshot["DataCaptureConfig"]),
            **routing_table(weights),
        )

    def _finish(self, name: str, record: dict, status: str, failure: str | None) -> None:
        with self._lock:
            if self._records["endpoint"].get(name) is not record:
                return
            record["EndpointStatus"] = status
            record["LastModifiedTime"] = time.time()
            if failure:
                record["FailureReason"] = failure
            else:
                record.pop("FailureReason", None)
            self._save("endpoint", name)

    def describe_endpoint(self, name: str) -> dict:
        with self._lock:
            record = copy.deepcopy(self._get("endpoint", name))
        deployed = record.pop("Deployed")
        pending = record.pop("Pending", None)
        green_share = pending["Share"] if pending else 0.0
        record["ProductionVariants"] = [
            _variant_summary(v, 1 - green_share) for v in deployed["ProductionVariants"]
        ]
        if pending:
            status = [{"Status": pending["Phase"], "StartTime": pending["StartTime"]}]
            record["PendingDeploymentSummary"] = {
                "EndpointConfigName": pending["EndpointConfigName"],
                "StartTime": pending["StartTime"],
                "ProductionVariants": [
                    {**_variant_summary(v, green_share), "VariantStatus": status} for v in pending["Variants"]
                ],
            }
        if deployed["ShadowProductionVariants"]:
            record["ShadowProductionVariants"] = [
                _variant_summary(v) for v in deployed["ShadowProductionVariants"]
            ]
        capture = deployed["DataCaptureConfig"]
        if capture:
            record["DataCaptureConfig"] = {
                "EnableCapture": capture.get("EnableCapture", True),
                "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
                "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
                "DestinationS3Uri": capture["DestinationS3Uri"],
            }
        return record

    def status_of(self, name: str) -> str | None:
        record = self._records["endpoint"].get(name)
        return record["EndpointStatus"] if record else None

    def list_endpoints(self, params: dict) -> dict:
        with self._lock:
            records = list(self._records["endpoint"].values())
        contains = params.get("NameContains", "")
        status = params.get("StatusEquals")
        rows = [
            {
                key: r[key]
                for key in (
                    "EndpointName",
                    "EndpointArn",
                    "CreationTime",
                    "LastModifiedTime",
                    "EndpointStatus",
                )
            }
            for r in records
            if contains in r["EndpointName"] and (status is None or r["EndpointStatus"] == status)
        ]
        sort_key = "EndpointName" if params.get("SortBy") == "Name" else "CreationTime"
        rows.sort(
            key=lambda row: row[sort_key], reverse=params.get("SortOrder", "Descending") == "Descending"
        )
        start = int(params.get("NextToken") or 0)
        limit = int(params.get("MaxResults") or 100)
        page = {"Endpoints": rows[start : start + limit]}
        if start + limit < len(rows):
            page["NextToken"] = str(start + limit)
        return page

    def delete_endpoint(self, name: str) -> None:
        with self._lock:
            self._delete("endpoint", name)
            live = self.live.pop(name, None)
        if live:
            self._in_background(lambda: stop_fleets(_all_fleets(live)))

    def _require_updatable(self, name: str) -> dict:
        record = self._get("endpoint", name)
        if record["EndpointStatus"] != "InService":
            raise validation_exception(f'Cannot update in-progress endpoint "{record["EndpointArn"]}".')
        return record

    def update_endpoint(self, name: str, config_name: str, deployment_config: dict | None) -> dict:
        with self._lock:
            snapshot = self._snapshot(config_name)
        capacity = sum(v["DesiredInstanceCount"] for v in snapshot["ProductionVariants"])
        policy = policy_for(deployment_config, capacity, self._alarm_state)
        with self._lock:
            record = self._require_updatable(name)
            record["EndpointStatus"] = "Updating"
            record["LastModifiedTime"] = time.time()
            if deployment_config:
                record["LastDeploymentConfig"] = copy.deepcopy(deployment_config)
            record["Pending"] = {
                "EndpointConfigName": config_name,
                "StartTime": time.time(),
                "Share": 0.0,
                "Phase": "Creating",
                "Variants": snapshot["ProductionVariants"],
            }
            self._save("endpoint", name)

        def run() -> None:
            try:
                fleets = self._launch(name, snapshot)
            except DeploymentError as exc:  # AWS rolls back: the old fleet keeps serving
                self._end_update(name, record, f"Update to {config_name!r} failed: {exc}")
                return
            green = self._live(name, snapshot, fleets)
            with self._lock:
                blue = self.live.get(name)
                if self._records["endpoint"].get(name) is not record or blue is None:
                    stop_fleets(fleets.values())
                    return
            reason = policy.shift(blue, green, _Rollout(self, name, record, blue, green))
            if reason is None:
                with self._lock:
                    record["EndpointConfigName"] = config_name
                    record["Deployed"] = snapshot
            self._end_update(name, record, reason and f"Rolled back the update to {config_name!r}: {reason}")

        self._in_background(run)
        return {"EndpointArn": record["EndpointArn"]}

    def _end_update(self, name: str, record: dict, failure: str | None) -> None:
        with self._lock:
            record.pop("Pending", None)
        self._finish(name, record, "InService", failure)

    def _publish(self, name: str, record: dict, live: LiveEndpoint, green_share: float, phase: str) -> bool:
        """Route `name`'s traffic through `live` if the endpoint is still `record`; False if it is gone."""
        with self._lock:
            if self._records["endpoint"].get(name) is not record:
                return False
            self.live[name] = live
            if "Pending" in record:
                record["Pending"].update(Share=green_share, Phase=phase)
            return True

    def update_weights_and_capacities(self, name: str, desired: list[dict]) -> dict:
        with self._lock:
            record = self._require_updatable(name)
            variants = {
                v["VariantName"]: v
                for v in record["Deployed"]["ProductionVariants"]
                + record["Deployed"]["ShadowProductionVariants"]
            }
            changes: dict[str, dict] = {}
            for i, item in enumerate(desired, start=1):
                variant_name = item.get("VariantName")
                if variant_name not in variants:
                    raise validation_exception(
                        f"The variant name {variant_name!r} is not present in endpoint {name!r}; "
                        f"variants: {sorted(variants)}"
                    )
                change = {}
                if "DesiredWeight" in item:
                    field = f"desiredWeightsAndCapacities.{i}.member.desiredWeight"
                    change["DesiredWeight"] = check_weight(item["DesiredWeight"], field)
                if "DesiredInstanceCount" in item:
                    field = f"desiredWeightsAndCapacities.{i}.member.desiredInstanceCount"
                    change["DesiredInstanceCount"] = check_instance_count(item["DesiredInstanceCount"], field)
                changes[variant_name] = change
            for variant_name, change in changes.items():
                variants[variant_name].update(change)
            record["EndpointStatus"] = "Updating"
            self._save("endpoint", name)
        self._in_background(lambda: self._apply_capacity(name, record))
        return {"EndpointArn": record["EndpointArn"]}

    def _apply_capacity(self, name: str, record: dict) -> None:
        snapshot = record["Deployed"]
        live = self.live[name]
        fleets = {fleet.name: fleet for fleet in live.fleets()}
        surplus = []
        try:
            for variant in snapshot["ProductionVariants"] + snapshot["ShadowProductionVariants"]:
                fleets[variant["VariantName"]], extra = resize(
                    fleets[variant["VariantName"]], variant["DesiredInstanceCount"]
                )
                surplus += extra
        except DeploymentError as exc:
            self._finish(name, record, "InService", f"Capacity update failed: {exc}")
            return
        with self._lock:
            for variant in snapshot["ProductionVariants"] + snapshot["ShadowProductionVariants"]:
                variant["CurrentWeight"] = variant["DesiredWeight"]
                variant["CurrentInstanceCount"] = len(fleets[variant["VariantName"]].workers)
            if self._records["endpoint"].get(name) is record:
                self.live[name] = self._live(name, snapshot, fleets)
        self._finish(name, record, "InService", None)
        stop_workers(surplus)

    # ---- lifecycle ------------------------------------------------------------------------------------

    def _in_background(self, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("background SageMaker work failed")

        threading.Thread(target=run, daemon=True).start()

    def restore(self) -> None:
        """After a restart, bring every endpoint that was serving back to InService (in parallel)."""
        with self._lock:
            records = [r for r in self._records["endpoint"].values() if r["EndpointStatus"] != "Failed"]
        for record in records:  # an interrupted update restarts on the fleet that was serving
            record["EndpointStatus"] = "Creating"
            record.pop("Pending", None)
        with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
            list(pool.map(lambda r: self._bring_up(r["EndpointName"], r), records))

    def shutdown(self) -> None:
        with self._lock:
            live, self.live = list(self.live.values()), {}
        for endpoint in live:
            stop_fleets(_all_fleets(endpoint))


class _Rollout:
    """The backend side of a deployment policy: what invocations see, what DescribeEndpoint shows."""

    def __init__(
        self, backend: SageMakerBackend, name: str, record: dict, blue: LiveEndpoint, green: LiveEndpoint
    ) -> None:
        self._backend, self._name, self._record = backend, name, record
        self._blue, self._green = blue, green

    def shift_to(self, green_share: float, phase: str) -> bool:
        split = replace(self._blue, candidate=self._green, candidate_share=green_share)
        return self._backend._publish(self._name, self._record, split, green_share, phase)

    def promote(self) -> bool:
        return self._backend._publish(self._name, self._record, self._green, 1.0, "Terminating")

    def revert(self) -> None:
        self._backend._publish(self._name, self._record, self._blue, 0.0, "Deleting")


def _variant_summary(variant: dict, weight_factor: float = 1.0) -> dict:
    summary = {
        key: variant[key]
        for key in (
            "VariantName",
            "CurrentWeight",
            "DesiredWeight",
            "CurrentInstanceCount",
            "DesiredInstanceCount",
        )
    }
    summary["CurrentWeight"] *= weight_factor
    summary["DeployedImages"] = [{"SpecifiedImage": variant["Image"], "ResolvedImage": variant["Image"]}]
    return summary


def _all_fleets(live: LiveEndpoint) -> list[VariantFleet]:
    """Blue's fleets and, mid-deployment, green's."""
    return live.fleets() + (live.candidate.fleets() if live.candidate else [])


def _capture_settings(config: dict | None) -> CaptureSettings | None:
    if not config or not config.get("EnableCapture", True):
        return None
    bucket, _, prefix = config["DestinationS3Uri"][5:].partition("/")
    modes = {option["CaptureMode"] for option in config["CaptureOptions"]}
    return CaptureSettings(
        float(config["InitialSamplingPercentage"]),
        bucket,
        prefix.strip("/"),
        "Input" in modes,
        "Output" in modes,
    )
