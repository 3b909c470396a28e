"""The model container contract: GET /ping, POST /invocations on 127.0.0.1.

Run as `python -m serving.model_server --model-dir DIR --port N`. The model is loaded before the
server binds, so /ping answers 200 only once it is loaded. If loading fails the process prints
`MODEL_LOAD_FAILED: <reason>` as its last stderr line and exits 2, which the host (the emulator, or a
container runtime) reports as the endpoint's failure reason.

`RTINFER_FAULT` in the environment makes the server misbehave on purpose (errors, latency): see
serving.faults.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

# xgboost imports scikit-learn and pandas when they are installed (~5 s here) and the server needs
# neither: hiding them makes a worker start in about a second. No effect if already imported.
for _unneeded in ("sklearn", "pandas"):
    sys.modules.setdefault(_unneeded, None)

from serving.faults import Fault, fault_from_env  # noqa: E402
from serving.inference import (  # noqa: E402
    InvalidInputError,
    LoadedModel,
    input_fn,
    model_fn,
    output_fn,
    predict_fn,
    response_content_type,
)

LOAD_FAILED_PREFIX = "MODEL_LOAD_FAILED: "


def build_app(model: LoadedModel, fault: Fault | None = None) -> Starlette:
    fault = fault or Fault()

    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        if fault.latency_s:
            await asyncio.sleep(fault.latency_s)
        if fault.fails_now():
            return PlainTextResponse("injected fault (RTINFER_FAULT error_rate)", status_code=500)
        accept = request.headers.get("accept")
        # Predicting inline is deliberate: a worker serves one small request at a time and a thread
        # hop would cost more than the prediction itself.
        try:
            response_content_type(accept)  # refuse an unsupported Accept before predicting
            prediction = predict_fn(input_fn(body, request.headers.get("content-type")), model)
            payload, content_type = output_fn(prediction, accept)
            # set the header directly: media_type would append "; charset=utf-8" to text/csv
            return Response(payload, headers={"Content-Type": content_type})
        except InvalidInputError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        except Exception as exc:
            return PlainTextResponse(f"prediction failed: {type(exc).__name__}: {exc}", status_code=500)

    return Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one model over the SageMaker container contract.")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        model = model_fn(args.model_dir)
        fault = fault_from_env()
    except Exception as exc:
        print(f"{LOAD_FAILED_PREFIX}{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    uvicorn.run(
        build_app(model, fault),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
