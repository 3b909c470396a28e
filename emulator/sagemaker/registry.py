"""The SageMaker model registry: model package groups and their numbered model package versions.

A versioned package's ARN is `arn:aws:sagemaker:{region}:{account}:model-package/{group}/{version}`
(group lower-cased, like every SageMaker ARN). Records live in memory and are written through to
SQLite (table sagemaker_model_registry) through emulator.typed_json.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulator.protocol.errors import validation_exception
from emulator.sagemaker.resources import Container
from emulator.state import Database
from emulator.typed_json import from_json, to_json

TABLE = "sagemaker_model_registry"
SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (kind TEXT, name TEXT, body TEXT, PRIMARY KEY (kind, name));"

log = logging.getLogger(__name__)


@dataclass
class PackageGroup:
    name: str
    arn: str
    description: str
    creation_time: float
    latest_version: int = 0  # versions keep counting up after deletions, as on AWS


@dataclass(frozen=True)
class PackageContainer:
    image: str
    model_data_url: str | None = None
    environment: dict[str, str] | None = None
    other: dict[str, Any] = field(default_factory=dict)  # members kept for Describe, without meaning here


@dataclass(frozen=True)
class InferenceSpecification:
    containers: tuple[PackageContainer, ...]
    other: dict[str, Any] = field(default_factory=dict)  # content types, instance types: kept, not used


@dataclass(frozen=True)
class PackageSpec:
    """What CreateModelPackage asks for."""

    group_name: str
    inference: InferenceSpecification
    approval: str
    description: str | None = None
    customer_metadata: dict[str, str] | None = None
    other: dict[str, Any] = field(default_factory=dict)  # ModelMetrics, Domain, ...: kept, not used


@dataclass(frozen=True)
class PackageUpdate:
    """What UpdateModelPackage asks for; None leaves that setting as it is."""

    arn: str
    approval: str | None = None
    approval_description: str | None = None
    metadata_to_set: dict[str, str] = field(default_factory=dict)
    metadata_to_remove: tuple[str, ...] = ()


@dataclass
class ModelPackage:
    spec: PackageSpec
    version: int
    arn: str
    approval: str
    creation_time: float
    last_modified_time: float
    approval_description: str | None = None
    customer_metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class PackageFilter:
    """ListModelPackages' filters; None matches everything."""

    group_name: str | None = None
    approval: str | None = None
    name_contains: str = ""
    created_after: float | None = None
    created_before: float | None = None
    package_type: str = "Both"  # every package here is versioned: "Unversioned" matches none

    def matches(self, package: ModelPackage) -> bool:
        created = package.creation_time
        return (
            self.package_type != "Unversioned"
            and self.group_name in (None, package.spec.group_name)
            and self.approval in (None, package.approval)
            and self.name_contains in package.spec.group_name
            and (self.created_after is None or created > self.created_after)
            and (self.created_before is None or created < self.created_before)
        )


class ModelRegistry:
    def __init__(self, db: Database, region: str, account: str) -> None:
        self._db = db
        self._prefix = f"arn:aws:sagemaker:{region}:{account}"
        self._lock = threading.RLock()
        db.create_tables(SCHEMA)
        self._groups: dict[str, PackageGroup] = {}
        self._packages: dict[str, ModelPackage] = {}  # by ARN
        for row in db.query(f"SELECT kind, name, body FROM {TABLE}"):
            try:
                if row["kind"] == "group":
                    self._groups[row["name"]] = from_json(PackageGroup, row["body"])
                else:
                    self._packages[row["name"]] = from_json(ModelPackage, row["body"])
            except Exception as exc:  # a damaged row: left as it is, the rest of the registry loads
                log.warning(
                    "skipping the damaged registry %s %r: %s: %s",
                    row["kind"],
                    row["name"],
                    type(exc).__name__,
                    exc,
                )

    def _save(self, kind: str, name: str, record: PackageGroup | ModelPackage | None) -> None:
        with self._db.transaction() as conn:
            if record is None:
                conn.execute(f"DELETE FROM {TABLE} WHERE kind=? AND name=?", (kind, name))
            else:
                conn.execute(
                    f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?)", (kind, name, to_json(record))
                )

    # ---- groups --------------------------------------------------------------------------------------

    def _group(self, name: str) -> PackageGroup:
        group = self._groups.get(name)
        if group is None:
            raise validation_exception(f"Model Package Group {name!r} does not exist.")
        return group

    def create_group(self, name: str, description: str) -> PackageGroup:
        with self._lock:
            if name in self._groups:
                raise validation_exception(f"Model Package Group {name!r} already exists.")
            group = PackageGroup(
                name, f"{self._prefix}:model-package-group/{name.lower()}", description, time.time()
            )
            self._groups[name] = group
            self._save("group", name, group)
        return group

    def describe_group(self, name: str) -> PackageGroup:
        with self._lock:
            return copy.deepcopy(self._group(name))

    def list_groups(self, name_contains: str) -> list[PackageGroup]:
        with self._lock:
            return [copy.deepcopy(g) for g in self._groups.values() if name_contains in g.name]

    def delete_group(self, name: str) -> None:
        with self._lock:
            self._group(name)
            if any(p.spec.group_name == name for p in self._packages.values()):
                raise validation_exception(
                    f"Model Package Group {name!r} still has model packages; delete them first."
                )
            del self._groups[name]
            self._save("group", name, None)

    # ---- packages ------------------------------------------------------------------------------------

    def _package(self, name_or_arn: str) -> ModelPackage:
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

    def create_package(self, spec: PackageSpec) -> ModelPackage:
        with self._lock:
            group = self._group(spec.group_name)
            group.latest_version += 1
            version = group.latest_version
            now = time.time()
            arn = f"{self._prefix}:model-package/{spec.group_name.lower()}/{version}"
            package = ModelPackage(spec, version, arn, spec.approval, now, now, None, spec.customer_metadata)
            self._packages[arn] = package
            self._save("group", group.name, group)
            self._save("package", arn, package)
        return package

    def describe_package(self, name_or_arn: str) -> ModelPackage:
        with self._lock:
            return copy.deepcopy(self._package(name_or_arn))

    def update_package(self, update: PackageUpdate) -> ModelPackage:
        with self._lock:
            package = self._package(update.arn)
            if update.approval is not None:
                package.approval = update.approval
            if update.approval_description is not None:
                package.approval_description = update.approval_description
            # AWS shows CustomerMetadataProperties (possibly empty) once a package has been updated
            metadata = {**(package.customer_metadata or {}), **update.metadata_to_set}
            for key in update.metadata_to_remove:
                metadata.pop(key, None)
            package.customer_metadata = metadata
            package.last_modified_time = time.time()
            self._save("package", package.arn, package)
            return copy.deepcopy(package)

    def list_packages(self, where: PackageFilter) -> list[ModelPackage]:
        with self._lock:
            return [copy.deepcopy(p) for p in self._packages.values() if where.matches(p)]

    def delete_package(self, name_or_arn: str) -> None:
        with self._lock:
            package = self._package(name_or_arn)
            del self._packages[package.arn]
            self._save("package", package.arn, None)

    def container_for(self, name_or_arn: str) -> Container:
        """The inference container CreateModel resolves a package to."""
        with self._lock:
            container = self._package(name_or_arn).spec.inference.containers[0]
        return Container(container.image, container.model_data_url or "", dict(container.environment or {}))
