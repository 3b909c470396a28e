"""InvokeEndpoint latency through boto3 and the emulator, next to the model's own predict time.

`python -m bench.invoke_latency`: starts an emulator on a free port in a temporary home, deploys a
25-feature XGBoost model, and measures both paths on the same payloads in the same run.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.harness import N_FEATURES, percentiles, running_emulator, temporary_home, time_calls, train_model
from orchestration.aws import aws_client
from orchestration.model.artifact import pack_model_artifact
from orchestration.settings import Settings
from serving.inference import model_fn

CASES = ((1, 3000), (100, 500))  # (rows per request, calls)


def _deploy(settings: Settings, artifact: Path) -> None:
    s3, sagemaker = aws_client("s3", settings), aws_client("sagemaker", settings)
    s3.create_bucket(Bucket="bench")
    s3.upload_file(str(artifact), "bench", "model.tar.gz")
    sagemaker.create_model(
        ModelName="bench",
        PrimaryContainer={"Image": "rtinfer-xgboost", "ModelDataUrl": "s3://bench/model.tar.gz"},
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "bench",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="bench", WaiterConfig={"Delay": 0.2})


def main() -> None:
    console = Console()
    rng = np.random.default_rng(0)
    with temporary_home() as (home, settings):
        features = [f"f{i}" for i in range(N_FEATURES)]
        artifact = pack_model_artifact(
            train_model(rng), features, 0.5, "bench", {}, home / "model.tar.gz"
        ).path
        with running_emulator(home, settings):
            with console.status("deploying the model"):
                _deploy(settings, artifact)
            runtime = aws_client("sagemaker-runtime", settings)
            # the same loader the worker uses, so the baseline predicts with the same booster settings
            with tempfile.TemporaryDirectory() as model_dir:
                with tarfile.open(artifact) as tar:
                    tar.extractall(model_dir, filter="data")
                model = model_fn(model_dir)
            table = Table(title=f"InvokeEndpoint latency, {N_FEATURES} features, 1 worker (ms)")
            for column in (
                "rows",
                "calls",
                "boto3 p50",
                "boto3 p99",
                "predict p50",
                "predict p99",
                "p50 ratio",
            ):
                table.add_column(column, justify="right")
            for rows, calls in CASES:
                matrix = rng.normal(size=(rows, N_FEATURES))
                body = "\n".join(",".join(f"{v:.6f}" for v in row) for row in matrix)

                def invoke(body: str = body) -> None:
                    runtime.invoke_endpoint(EndpointName="bench", Body=body, ContentType="text/csv")[
                        "Body"
                    ].read()

                def predict(matrix: np.ndarray = matrix) -> None:
                    model.booster.inplace_predict(matrix, validate_features=False)

                with console.status(f"{calls} calls of {rows} row(s)"):
                    remote = percentiles(time_calls(invoke, calls))
                    local = percentiles(time_calls(predict, calls))
                table.add_row(
                    str(rows),
                    str(calls),
                    f"{remote[0]:.2f}",
                    f"{remote[1]:.2f}",
                    f"{local[0]:.3f}",
                    f"{local[1]:.3f}",
                    f"{remote[0] / local[0]:.0f}x",
                )
            console.print(table)
            console.print(
                "boto3 = client call to response body read, through the emulator and a model-server worker; "
                "predict = booster.inplace_predict in this process (nthread=1, as in the worker)."
            )


if __name__ == "__main__":
    main()
