"""Lambda's REST-JSON wire protocol under /2015-03-31/ (botocore signs it as service `lambda`)."""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulator.lambda_.backend import LATEST, LambdaBackend
from emulator.lambda_.esm.mappings import EventSourceMappings
from emulator.lambda_.limits import CODE_LIMIT, INVOKE_LIMIT, REQUEST_LIMIT, SHAPES, marker, max_items
from emulator.protocol import json_codec
from emulator.protocol.body import BodyLimit, read_body
from emulator.protocol.errors import AwsError
from emulator.protocol.rest import RestDispatcher

_FUNCTIONS = "/2015-03-31/functions"
_FUNCTION = _FUNCTIONS + r"/(?P<name>[^/]+)"
_MAPPINGS = "/2015-03-31/event-source-mappings"
_MAPPING = _MAPPINGS + r"/(?P<uuid>[^/]+)"
_INVOKE_THREADS = 64  # synchronous invocations block a thread each; keep them off Starlette's shared pool


def render_error(err: AwsError, request: Request) -> Response:
    body = {"Type": "User", "message": err.message, **err.fields}
    return Response(
        json.dumps(body), err.status, media_type="application/json", headers={"x-amzn-ErrorType": err.code}
    )


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, media_type="application/json")


async def _params(request: Request, operation: str, limit: BodyLimit = REQUEST_LIMIT) -> dict:
    """The JSON body of `operation`, its members checked against the operation's input shape."""
    raw = await read_body(request, limit)
    try:
        params = json_codec.loads(raw) if raw else {}
    except ValueError as exc:
        raise AwsError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        ) from None
    SHAPES.check(operation, params, body_only=True)
    return params


def _max_items(request: Request) -> int | None:
    return max_items(request.query_params.get("MaxItems"))


def build_lambda_api(backend: LambdaBackend, mappings: EventSourceMappings) -> RestDispatcher:
    api = RestDispatcher(render_error, internal_code="ServiceException")
    invoke_pool = ThreadPoolExecutor(max_workers=_INVOKE_THREADS, thread_name_prefix="lambda-invoke")

    # ---- functions ---------------------------------------------------------------------------------

    @api.route("POST", _FUNCTIONS + "/?")
    async def create_function(request: Request) -> Response:
        params = await _params(request, "CreateFunction", CODE_LIMIT)
        return _json(await run_in_threadpool(backend.create_function, params), 201)

    @api.route("GET", _FUNCTIONS + "/?")
    async def list_functions(request: Request) -> Response:
        return _json(
            await run_in_threadpool(
                backend.list_functions, marker(request.query_params.get("Marker")), _max_items(request)
            )
        )

    @api.route("GET", _FUNCTION + "/?")
    async def get_function(request: Request, name: str) -> Response:
        configuration = await run_in_threadpool(backend.get_configuration, name)
        location = f"{request.base_url}_rtinfer/lambda/functions/{configuration['FunctionName']}/code"
        return _json(
            {
                "Configuration": configuration,
                "Code": {"RepositoryType": "S3", "Location": location},
                "Tags": {},
            }
        )

    @api.route("GET", _FUNCTION + "/configuration/?")
    async def get_configuration(request: Request, name: str) -> Response:
        return _json(await run_in_threadpool(backend.get_configuration, name))

    @api.route("PUT", _FUNCTION + "/code/?")
    async def update_code(request: Request, name: str) -> Response:
        params = await _params(request, "UpdateFunctionCode", CODE_LIMIT)
        return _json(await run_in_threadpool(backend.update_code, name, params))

    @api.route("PUT", _FUNCTION + "/configuration/?")
    async def update_configuration(request: Request, name: str) -> Response:
        params = await _params(request, "UpdateFunctionConfiguration")
        return _json(await run_in_threadpool(backend.update_configuration, name, params))

    @api.route("DELETE", _FUNCTION + "/?")
    async def delete_function(request: Request, name: str) -> Response:
        await run_in_threadpool(backend.delete_function, name)
        return Response(status_code=204)

    @api.route("POST", _FUNCTION + "/invocations/?")
    async def invoke(request: Request, name: str) -> Response:
        payload = await read_body(request, INVOKE_LIMIT)
        qualifier = request.query_params.get("Qualifier")
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            await run_in_threadpool(backend.resolve, name, qualifier)
            return Response(status_code=204)
        if invocation_type == "Event":
            request_id = await run_in_threadpool(backend.invoke_async, name, payload, qualifier)
            return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
        if invocation_type != "RequestResponse":
            raise AwsError(
                "InvalidParameterValueException",
                f"InvocationType must be RequestResponse, Event or DryRun, got {invocation_type!r}.",
            )
        want_log = request.headers.get("x-amz-log-type") == "Tail"
        report = await asyncio.get_running_loop().run_in_executor(
            invoke_pool, lambda: backend.invoke(name, payload, want_log, qualifier)
        )
        headers = {"X-Amz-Executed-Version": LATEST}
        if report.outcome.error_type:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if report.log_tail is not None:
            headers["X-Amz-Log-Result"] = base64.b64encode(report.log_tail.encode()).decode()
        return Response(report.outcome.payload, 200, headers=headers, media_type="application/json")

    # ---- event-source mappings ---------------------------------------------------------------------

    @api.route("POST", _MAPPINGS + "/?")
    async def create_mapping(request: Request) -> Response:
        params = await _params(request, "CreateEventSourceMapping")
        return _json(await run_in_threadpool(mappings.create, params), 202)

    @api.route("GET", _MAPPINGS + "/?")
    async def list_mappings(request: Request) -> Response:
        query = request.query_params
        page = await run_in_threadpool(
            mappings.list,
            query.get("EventSourceArn"),
            query.get("FunctionName"),
            marker(query.get("Marker")),
            _max_items(request),
        )
        return _json(page)

    @api.route("GET", _MAPPING + "/?")
    async def get_mapping(request: Request, uuid: str) -> Response:
        return _json(await run_in_threadpool(mappings.get, uuid))

    @api.route("PUT", _MAPPING + "/?")
    async def update_mapping(request: Request, uuid: str) -> Response:
        params = await _params(request, "UpdateEventSourceMapping")
        return _json(await run_in_threadpool(mappings.update, uuid, params), 202)

    @api.route("DELETE", _MAPPING + "/?")
    async def delete_mapping(request: Request, uuid: str) -> Response:
        return _json(await run_in_threadpool(mappings.delete, uuid), 202)

    return api
