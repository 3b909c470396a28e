"""SageMaker control plane over AWS JSON 1.1 (X-Amz-Target `SageMaker.<Operation>`)."""

from __future__ import annotations

from emulator.protocol.json_rpc import JsonDispatcher
from emulator.sagemaker.backend import SageMakerBackend
from emulator.sagemaker.compilation import CompilationJobs
from emulator.sagemaker.registry import ModelRegistry


def build_sagemaker_api(
    backend: SageMakerBackend, registry: ModelRegistry, compilations: CompilationJobs
) -> JsonDispatcher:
    api = JsonDispatcher("SageMaker", json_version="1.1")
    _register_registry(api, registry)
    _register_compilation(api, compilations)
    api.operation("CreateModel")(backend.create_model)
    api.operation("DescribeModel")(lambda p: backend.describe_model(p["ModelName"]))
    api.operation("DeleteModel")(lambda p: backend.delete_model(p["ModelName"]) or {})
    api.operation("CreateEndpointConfig")(backend.create_endpoint_config)
    api.operation("DescribeEndpointConfig")(
        lambda p: backend.describe_endpoint_config(p["EndpointConfigName"])
    )
    api.operation("DeleteEndpointConfig")(
        lambda p: backend.delete_endpoint_config(p["EndpointConfigName"]) or {}
    )
    api.operation("CreateEndpoint")(
        lambda p: backend.create_endpoint(p["EndpointName"], p["EndpointConfigName"])
    )
    api.operation("DescribeEndpoint")(lambda p: backend.describe_endpoint(p["EndpointName"]))
    api.operation("ListEndpoints")(backend.list_endpoints)
    api.operation("DeleteEndpoint")(lambda p: backend.delete_endpoint(p["EndpointName"]) or {})
    api.operation("UpdateEndpoint")(
        lambda p: backend.update_endpoint(
            p["EndpointName"], p["EndpointConfigName"], p.get("DeploymentConfig")
        )
    )
    api.operation("UpdateEndpointWeightsAndCapacities")(
        lambda p: backend.update_weights_and_capacities(p["EndpointName"], p["DesiredWeightsAndCapacities"])
    )
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
