"""The SageMaker model registry: model package groups and their numbered model package versions.

A versioned package's ARN is `arn:aws:sagemaker:{region}:{account}:model-package/{group}/{version}`
(group lower-cased, like every SageMaker ARN). Records are kept in memory and written through to
SQLite.
"""

from __future__ import annotations

import copy
import json
import threading
import time

from emulator.protocol.errors import validation_exception
from emulator.protocol.pagination import paginate
from emulator.s3.backend import parse_s3_uri
from emulator.sagemaker.resources import Container
from emulator.sagemaker.validation import constraint_error
from emulator.state import Database

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sagemaker_registry "
    "(kind TEXT, name TEXT, body TEXT, PRIMARY KEY (kind, name));"
)
_GROUP_SUMMARY = (
    "ModelPackageGroupName",
    "ModelPackageGroupArn",
    "ModelPackageGroupDescription",
    "CreationTime",
    "ModelPackageGroupStatus",
)
_PACKAGE_SUMMARY = (
    "ModelPackageName",
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
)


def _check_approval(value: object, field: str) -> str:
    if value not in APPROVAL_STATUSES:
        raise constraint_error(value, field, f"Member must satisfy enum value set: {list(APPROVAL_STATUSES)}")
    return value  # type: ignore[return-value]


def _check_inference_specification(spec: dict | None) -> None:
    containers = (spec or {}).get("Containers") or []
    if not containers:
        raise constraint_error(
            containers,
            "inferenceSpecification.containers",
            "Member must have length greater than or equal to 1",
        )
    for i, container in enumerate(containers, start=1):
        where = f"inferenceSpecification.containers.{i}.member"
        if not container.get("Image"):
            raise constraint_error(container.get("Image"), f"{where}.image", "Member must not be null")
        if "ModelDataUrl" in container:
            try:
                parse_s3_uri(container["ModelDataUrl"])
            except ValueError as exc:
                raise constraint_error(container["ModelDataUrl"], f"{where}.modelDataUrl", str(exc)) from None


def _page(rows: list[dict], params: dict, key: str, name_key: str) -> dict:
    """Sort (AWS defaults: CreationTime, Ascending; versions break ties) and paginate list results."""
    primary = name_key if params.get("SortBy") == "Name" else "CreationTime"
    rows.sort(
        key=lambda r: (r[primary], r.get("ModelPackageVersion", 0)),
        reverse=params.get("SortOrder", "Ascending") == "Descending",
    )
    return paginate(rows, key, params.get("NextToken"), int(params.get("MaxResults") or 100))


class ModelRegistry:
    def __init__(self, db: Database, region: str, account: str) -> None:
        self._db = db
        self._prefix = f"arn:aws:sagemaker:{region}:{account}"
        self._lock = threading.RLock()
        db.create_tables(_SCHEMA)
        self._groups: dict[str, dict] = {}
        self._packages: dict[str, dict] = {}  # by ARN
        for row in db.query("SELECT kind, name, body FROM sagemaker_registry"):
            (self._groups if row["kind"] == "group" else self._packages)[row["name"]] = json.loads(
                row["body"]
            )

    def _save(self, kind: str, name: str, body: dict | None) -> None:
        with self._db.transaction() as conn:
            if body is None:
                conn.execute("DELETE FROM sagemaker_registry WHERE kind=? AND name=?", (kind, name))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO sagemaker_registry VALUES (?, ?, ?)",
                    (kind, name, json.dumps(body)),
                )

    # ---- groups --------------------------------------------------------------------------------------

    def _group(self, name: str) -> dict:
        group = self._groups.get(name)
        if group is None:
            raise validation_exception(f"Model Package Group {name!r} does not exist.")
        return group

    def create_group(self, params: dict) -> dict:
        name = params.get("ModelPackageGroupName") or ""
        if not name:
            raise constraint_error(name, "modelPackageGroupName", "Member must not be null")
        with self._lock:
            if name in self._groups:
                raise validation_exception(f"Model Package Group {name!r} already exists.")
            group = {
                "ModelPackageGroupName": name,
                "ModelPackageGroupArn": f"{self._prefix}:model-package-group/{name.lower()}",
                "ModelPackageGroupDescription": params.get("ModelPackageGroupDescription", ""),
                "CreationTime": time.time(),
                "CreatedBy": {},
                "ModelPackageGroupStatus": "Completed",
                "LatestVersion": 0,  # versions keep counting up after deletions, as on AWS
            }
            self._groups[name] = group
            self._save("group", name, group)
        return {"ModelPackageGroupArn": group["ModelPackageGroupArn"]}

    def describe_group(self, name: str) -> dict:
        with self._lock:
            group = copy.deepcopy(self._group(name))
        group.pop("LatestVersion")
        return group

    def list_groups(self, params: dict) -> dict:
        contains = params.get("NameContains", "")
        with self._lock:
            rows = [
                {key: g[key] for key in _GROUP_SUMMARY}
                for g in self._groups.values()
                if contains in g["ModelPackageGroupName"]
            ]
        return _page(rows, params, "ModelPackageGroupSummaryList", "ModelPackageGroupName")

    def delete_group(self, name: str) -> None:
        with self._lock:
            self._group(name)
            if any(p["ModelPackageGroupName"] == name for p in self._packages.values()):
                raise validation_exception(
                    f"Model Package Group {name!r} still has model packages; delete them first."
                )
            del self._groups[name]
            self._save("group", name, None)

    # ---- packages ------------------------------------------------------------------------------------

    def package(self, name_or_arn: str) -> dict:
        """A package by ARN, or by `group/version`."""
        arn = (
            name_or_arn
            if name_or_arn.startswith("arn:")
            else f"{self._prefix}:model-package/{name_or_arn.lower()}"
        )
        package = self._packages.get(arn)
        if package is None:
            raise validation_exception(f"ModelPackage {name_or_arn} does not exist.")
        return package

    def create_package(self, params: dict) -> dict:
        group_name = params.get("ModelPackageGroupName")
        if not group_name:
            raise validation_exception(
                "ModelPackageGroupName is required: only versioned model packages are emulated"
            )
        _check_inference_specification(params.get("InferenceSpecification"))
        approval = _check_approval(
            params.get("ModelApprovalStatus", "PendingManualApproval"), "modelApprovalStatus"
        )
        with self._lock:
            group = self._group(group_name)
            group["LatestVersion"] += 1
            version = group["LatestVersion"]
            now = time.time()
            package = {
                key: copy.deepcopy(value)
                for key, value in params.items()
                if key not in ("ClientToken", "Tags")
            }
            package.update(
                ModelPackageName=group_name,
                ModelPackageVersion=version,
                ModelPackageArn=f"{self._prefix}:model-package/{group_name.lower()}/{version}",
                ModelApprovalStatus=approval,
                ModelPackageStatus="Completed",
                ModelPackageStatusDetails={"ValidationStatuses": [], "ImageScanStatuses": []},
                CreationTime=now,
                LastModifiedTime=now,
                CertifyForMarketplace=False,
            )
            self._packages[package["ModelPackageArn"]] = package
            self._save("group", group_name, group)
            self._save("package", package["ModelPackageArn"], package)
        return {"ModelPackageArn": package["ModelPackageArn"]}

    def describe_package(self, name_or_arn: str) -> dict:
        with self._lock:
            return copy.deepcopy(self.package(name_or_arn))

    def update_package(self, params: dict) -> dict:
        with self._lock:
            package = self.package(params.get("ModelPackageArn") or "")
            if "ModelApprovalStatus" in params:
                package["ModelApprovalStatus"] = _check_approval(
                    params["ModelApprovalStatus"], "modelApprovalStatus"
                )
            if "ApprovalDescription" in params:
                package["ApprovalDescription"] = params["ApprovalDescription"]
            metadata = package.setdefault("CustomerMetadataProperties", {})
            metadata.update(params.get("CustomerMetadataProperties") or {})
            for key in params.get("CustomerMetadataPropertiesToRemove") or []:
                metadata.pop(key, None)
            package["LastModifiedTime"] = time.time()
            self._save("package", package["ModelPackageArn"], package)
        return {"ModelPackageArn": package["ModelPackageArn"]}

    def list_packages(self, params: dict) -> dict:
        group = params.get("ModelPackageGroupName")
        approval = params.get("ModelApprovalStatus")
        if approval is not None:
            _check_approval(approval, "modelApprovalStatus")
        kind = params.get("ModelPackageType", "Both")
        after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
        with self._lock:
            rows = [
                {key: p[key] for key in _PACKAGE_SUMMARY if key in p}
                for p in self._packages.values()
                if kind != "Unversioned"
                and (group is None or p["ModelPackageGroupName"] == group)
                and (approval is None or p["ModelApprovalStatus"] == approval)
                and params.get("NameContains", "") in p["ModelPackageName"]
                and (after is None or p["CreationTime"] > after)
                and (before is None or p["CreationTime"] < before)
            ]
        return _page(rows, params, "ModelPackageSummaryList", "ModelPackageName")

    def delete_package(self, name_or_arn: str) -> None:
        with self._lock:
            package = self.package(name_or_arn)
            del self._packages[package["ModelPackageArn"]]
            self._save("package", package["ModelPackageArn"], None)

    def container_for(self, name_or_arn: str) -> Container:
        """The inference container CreateModel resolves a package to."""
        with self._lock:
            container = self.package(name_or_arn)["InferenceSpecification"]["Containers"][0]
        environment = dict(container.get("Environment", {}))
        return Container(container.get("Image", ""), container.get("ModelDataUrl", ""), environment)
