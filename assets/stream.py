"""The stream path before the endpoint: streams, tables, queues, the packaged consumer and its mapping."""

import dataclasses

import dagster as dg

from orchestration.settings import load_settings
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.stack import deploy_stream_stack
from orchestration.wiring.resources import AwsClients
from orchestration.wiring.run_config import StreamStackRunConfig


@dg.asset(
    group_name="deployment",
    description="Kinesis in/out streams, DynamoDB tables, SQS queues, the consumer Lambda and its "
    "event-source mapping, pointed at the fraud endpoint.",
)
def stream_stack(
    context: dg.AssetExecutionContext, config: StreamStackRunConfig, aws: AwsClients, fraud_endpoint: dict
) -> dg.Output[dict]:
    settings = load_settings()
    spec = config.to_library().model_copy(update={"endpoint_name": fraud_endpoint["endpoint_name"]})
    package = build_lambda_zip(settings.home / "dist" / "consumer.zip")
    context.log.info(f"consumer package {package} ({package.stat().st_size / 1e6:.2f} MB)")
    stack = deploy_stream_stack(aws.client, spec, package, settings.sagemaker_role_arn)
    record = {**dataclasses.asdict(stack), **spec.model_dump()}
    return dg.Output(
        record,
        metadata={
            "input_stream": spec.input_stream,
            "function": stack.function_arn,
            "event_source_mapping": stack.mapping_uuid,
            "endpoint": spec.endpoint_name,
            "package_bytes": package.stat().st_size,
        },
    )
