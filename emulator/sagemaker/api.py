"""SageMaker control plane over AWS JSON 1.1 (X-Amz-Target `SageMaker.<Operation>`)."""

from __future__ import annotations

from emulator.protocol.json_rpc import JsonDispatcher
from emulator.sagemaker.backend import SageMakerBackend
from emulator.sagemaker.compilation import CompilationJobs
from emulator.sagemaker.hosting_api import register_hosting
from emulator.sagemaker.registry import ModelRegistry


def build_sagemaker_api(
    backend: SageMakerBackend, registry: ModelRegistry, compilations: CompilationJobs
) -> JsonDispatcher:
    api = JsonDispatcher("SageMaker", json_version="1.1")
    register_hosting(api, backend)
    _register_registry(api, registry)
    _register_compilation(api, compilations)
    return api


def _register_registry(api: JsonDispatcher, registry: ModelRegistry) -> None:
    api.operation("CreateModelPackageGroup")(registry.create_group)
    api.operation("DescribeModelPackageGroup")(lambda p: registry.describe_group(p["ModelPackageGroupName"]))
    api.operation("ListModelPackageGroups")(registry.list_groups)
    api.operation("DeleteModelPackageGroup")(
        lambda p: registry.delete_group(p["ModelPackageGroupName"]) or {}
    )
    api.operation("CreateModelPackage")(registry.create_package)
    api.operation("DescribeModelPackage")(lambda p: registry.describe_package(p["ModelPackageName"]))
    api.operation("UpdateModelPackage")(registry.update_package)
    api.operation("ListModelPackages")(registry.list_packages)
    api.operation("DeleteModelPackage")(lambda p: registry.delete_package(p["ModelPackageName"]) or {})


def _register_compilation(api: JsonDispatcher, jobs: CompilationJobs) -> None:
    api.operation("CreateCompilationJob")(jobs.create)
    api.operation("DescribeCompilationJob")(lambda p: jobs.describe(p["CompilationJobName"]))
    api.operation("ListCompilationJobs")(jobs.list)
    api.operation("StopCompilationJob")(lambda p: jobs.stop(p["CompilationJobName"]))
