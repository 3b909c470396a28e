"""The emulator's ASGI app: one port, every service, routed by the SigV4 credential scope."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from emulator.cloudwatch.api import build_cloudwatch_api
from emulator.cloudwatch.backend import CloudWatchBackend
from emulator.cloudwatch.legacy import migrate_alarms
from emulator.cloudwatch.publisher import MetricPublisher
from emulator.dynamodb.api import build_dynamodb_api
from emulator.dynamodb.backend import DynamoDBBackend
from emulator.dynamodb.ttl import SWEEP_EVERY_S
from emulator.housekeeping import Housekeeping, Job
from emulator.kinesis.api import build_kinesis_api
from emulator.kinesis.backend import TRIM_EVERY_S, KinesisBackend
from emulator.lambda_.api import build_lambda_api
from emulator.lambda_.backend import LambdaBackend
from emulator.lambda_.debug import debug_routes as lambda_debug_routes
from emulator.lambda_.esm.mappings import EventSourceMappings
from emulator.lambda_.metrics import FunctionMetrics
from emulator.protocol.errors import AwsError
from emulator.protocol.json_rpc import JsonDispatcher
from emulator.protocol.last_resort import LastResort
from emulator.protocol.loopback import LoopbackOnly
from emulator.protocol.routing import ServiceRouter
from emulator.s3.api import build_s3_api, presigned_s3
from emulator.s3.backend import LIFECYCLE_EVERY_S, S3Backend
from emulator.s3.metrics import BucketRequests, RequestMetrics, StorageMetrics
from emulator.sagemaker.api import build_sagemaker_api
from emulator.sagemaker.backend import ACCOUNT, SageMakerBackend
from emulator.sagemaker.capture import CaptureWriter
from emulator.sagemaker.compilation import CompilationJobs
from emulator.sagemaker.legacy import migrate_sagemaker_state
from emulator.sagemaker.registry import ModelRegistry
from emulator.sagemaker_runtime.api import build_runtime_api
from emulator.sagemaker_runtime.backend import RuntimeBackend
from emulator.sagemaker_runtime.metrics import InvocationMetrics
from emulator.sqs.api import build_sqs_api
from emulator.sqs.backend import SqsBackend
from emulator.state import Database

HEALTH_PATH = "/_rtinfer/health"
OPERATIONS_PATH = "/_rtinfer/operations"  # every routed AWS operation, by service (emulator-only)


def state_dir(home: Path) -> Path:
    return home / "emulator"


def create_app(home: Path, port: int) -> Starlette:
    """`port` is where this app will listen: Lambda workers call back into the emulator there."""
    root = state_dir(home)
    db = Database(root / "state.db")
    # state from the release before the typed backends, before the backends load theirs
    migrate_alarms(db)
    migrate_sagemaker_state(db)
    s3 = S3Backend(db, root / "s3")
    cloudwatch = CloudWatchBackend(db)
    service_metrics = MetricPublisher(cloudwatch.metrics)  # AWS/Kinesis, AWS/DynamoDB, AWS/S3, AWS/SQS
    storage_metrics = StorageMetrics(s3, service_metrics)
    bucket_requests = BucketRequests(service_metrics)
    registry = ModelRegistry(db, "us-east-1", ACCOUNT)
    compilations = CompilationJobs(db, s3, "us-east-1", ACCOUNT)
    sagemaker = SageMakerBackend(db, s3, root / "sagemaker", registry, cloudwatch.alarms.state_of)
    capture = CaptureWriter(s3, bucket_requests)
    invocation_metrics = InvocationMetrics(cloudwatch.metrics)
    runtime = RuntimeBackend(sagemaker, capture, invocation_metrics)
    kinesis = KinesisBackend(db)
    dynamodb = DynamoDBBackend(db)
    sqs = SqsBackend(db)
    function_metrics = FunctionMetrics(cloudwatch.metrics)
    functions = LambdaBackend(db, root / "lambda", port, function_metrics)
    mappings = EventSourceMappings(db, functions, kinesis, sqs, s3)
    housekeeping = Housekeeping(
        [
            Job("kinesis retention", TRIM_EVERY_S, kinesis.trim_expired),
            Job("dynamodb ttl", SWEEP_EVERY_S, dynamodb.ttl.delete_expired),
            Job("s3 lifecycle", LIFECYCLE_EVERY_S, s3.expire_objects),
        ]
    )

    router = ServiceRouter()
    router.register("s3", RequestMetrics(presigned_s3(build_s3_api(s3)), bucket_requests))
    router.register("kinesis", build_kinesis_api(kinesis, service_metrics))
    router.register("dynamodb", build_dynamodb_api(dynamodb, service_metrics))
    router.register("sqs", build_sqs_api(sqs, service_metrics))
    router.register("lambda", build_lambda_api(functions, mappings))
    router.register("monitoring", build_cloudwatch_api(cloudwatch))
    # botocore signs SageMaker Runtime as "sagemaker" too: the runtime is the one with a REST path.
    router.register(
        "sagemaker", build_runtime_api(runtime), build_sagemaker_api(sagemaker, registry, compilations)
    )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "home": str(home)})

    async def operations(request: Request) -> Response:
        return JSONResponse(router.operations())

    async def dispatch(request: Request) -> Response:
        handler = router.handler_for(request)
        if handler is None:
            err = AwsError(
                "UnrecognizedClientException", "request is not SigV4-signed for an emulated service"
            )
            return JsonDispatcher("", "1.0").error_response(err)
        return await handler(request)

    stopping = threading.Event()
    mappings_lock = threading.Lock()  # the mappings are restored or shut down, never both at once

    def restore(endpoints: list) -> None:
        """Endpoints first (each instance a process to start), then the event-source mappings, whose
        functions call those endpoints."""
        try:
            sagemaker.restore(endpoints)
        finally:
            with mappings_lock:
                if not stopping.is_set():
                    mappings.restore()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The emulator answers at once; endpoints say Creating until their instances answer again.
        endpoints = sagemaker.begin_restore()
        capture.start()
        cloudwatch.start()
        invocation_metrics.start()
        function_metrics.start()
        service_metrics.start()
        storage_metrics.start()
        threading.Thread(target=restore, args=(endpoints,), daemon=True, name="restore").start()
        housekeeping.start()
        yield
        stopping.set()
        housekeeping.close()
        with mappings_lock:
            mappings.shutdown()
        functions.shutdown()
        function_metrics.close()  # after the workers stopped: their last log lines are read
        await runtime.close()
        capture.close()
        invocation_metrics.close()
        storage_metrics.close()
        service_metrics.close()
        cloudwatch.close()
        compilations.shutdown()
        sagemaker.shutdown()
        db.close()

    async def aws_request(scope: Scope, receive: Receive, send: Send) -> None:
        """Whatever the emulator's own routes do not match: any method, any path (even one a route's
        pattern cannot match, such as a percent-encoded newline) goes to the services."""
        response = await dispatch(Request(scope, receive))
        await response(scope, receive, send)

    app = Starlette(
        routes=[
            Route(HEALTH_PATH, health),
            Route(OPERATIONS_PATH, operations),
            *lambda_debug_routes(functions, mappings),
        ],
        lifespan=lifespan,
        middleware=[Middleware(LoopbackOnly), Middleware(LastResort)],
    )
    app.router.default = aws_request
    return app
