"""SageMaker control plane over AWS JSON 1.1 (X-Amz-Target `SageMaker.<Operation>`)."""

from __future__ import annotations

from emulator.protocol.json_rpc import JsonDispatcher
from emulator.sagemaker.backend import SageMakerBackend


def build_sagemaker_api(backend: SageMakerBackend) -> JsonDispatcher:
    api = JsonDispatcher("SageMaker", json_version="1.1")
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
