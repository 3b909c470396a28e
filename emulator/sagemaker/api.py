"""SageMaker control plane over AWS JSON 1.1 (X-Amz-Target `SageMaker.<Operation>`)."""

from __future__ import annotations

from emulator.protocol.json_rpc import JsonDispatcher
from emulator.protocol.shapes import RequestShapes
from emulator.sagemaker.backend import SageMakerBackend
from emulator.sagemaker.compilation import CompilationJobs
from emulator.sagemaker.compilation_api import register_compilation
from emulator.sagemaker.hosting_api import register_hosting
from emulator.sagemaker.registry import ModelRegistry
from emulator.sagemaker.registry_api import register_registry


def build_sagemaker_api(
    backend: SageMakerBackend, registry: ModelRegistry, compilations: CompilationJobs
) -> JsonDispatcher:
    api = JsonDispatcher("SageMaker", "1.1", RequestShapes("sagemaker"))
    register_hosting(api, backend)
    register_registry(api, registry)
    register_compilation(api, compilations)
    return api
