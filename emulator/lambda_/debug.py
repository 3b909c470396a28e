"""Emulator-only views of Lambda (not AWS APIs): a function's code and logs, a mapping's counters.

GET /_rtinfer/lambda/functions/{name}                      code directory, log directory, warm workers,
                                                           EMF lines found in its logs (and malformed ones)
GET /_rtinfer/lambda/functions/{name}/code                 the deployment zip (GetFunction's Code.Location)
GET /_rtinfer/lambda/event-source-mappings/{uuid}/stats    records read, batches, invocations, failures,
                                                           retries, destination, iterator age (ms)
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from emulator.lambda_.backend import LambdaBackend
from emulator.lambda_.esm.mappings import EventSourceMappings
from emulator.protocol.errors import AwsError

PREFIX = "/_rtinfer/lambda"


def _error(err: AwsError) -> Response:
    return JSONResponse({"error": err.code, "message": err.message}, err.status)


def debug_routes(functions: LambdaBackend, mappings: EventSourceMappings) -> list[Route]:
    async def function_status(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(functions.status, request.path_params["name"]))
        except AwsError as err:
            return _error(err)

    async def function_code(request: Request) -> Response:
        try:
            status = await run_in_threadpool(functions.status, request.path_params["name"])
        except AwsError as err:
            return _error(err)
        return FileResponse(status["CodeArchive"], media_type="application/zip")

    async def mapping_stats(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(mappings.stats, request.path_params["uuid"]))
        except AwsError as err:
            return _error(err)

    return [
        Route(PREFIX + "/functions/{name}", function_status),
        Route(PREFIX + "/functions/{name}/code", function_code),
        Route(PREFIX + "/event-source-mappings/{uuid}/stats", mapping_stats),
    ]
