"""The same model served uncompiled (XGBoost) and Neo-compiled (TL2cgen), side by side.

`python -m bench.compiled_model`: starts an emulator on a free port in a temporary home, compiles the
model with the emulator's CreateCompilationJob, deploys both artifacts as two endpoints, and measures
InvokeEndpoint p50/p99 and each predictor's in-process predict time on the same payloads in one run.
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.harness import N_FEATURES, percentiles, running_emulator, temporary_home, time_calls, train_model
from orchestration.aws import aws_client
from orchestration.model.artifact import pack_model_artifact
from orchestration.settings import Settings
from serving.inference import LoadedModel, model_fn

CASES = ((1, 2000), (100, 300))  # (rows per request, calls)
MODELS = ("xgboost", "compiled")


def _compile(settings: Settings) -> tuple[str, float]:
    """Compile s3://bench/model.tar.gz with a Neo job; the compiled artifact's URI and the job's seconds."""
    sagemaker = aws_client("sagemaker", settings)
    sagemaker.create_compilation_job(
        CompilationJobName="bench",
        RoleArn="arn:aws:iam::000000000000:role/bench",
        InputConfig={"S3Uri": "s3://bench/model.tar.gz", "Framework": "XGBOOST"},
        OutputConfig={"S3OutputLocation": "s3://bench/compiled", "TargetDevice": "ml_m5"},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )
    while True:
        job = sagemaker.describe_compilation_job(CompilationJobName="bench")
        if job["CompilationJobStatus"] == "COMPLETED":
            seconds = (job["CompilationEndTime"] - job["CompilationStartTime"]).total_seconds()
            return job["ModelArtifacts"]["S3ModelArtifacts"], seconds
        if job["CompilationJobStatus"] != "INPROGRESS" and job["CompilationJobStatus"] != "STARTING":
            raise RuntimeError(f"compilation {job['CompilationJobStatus']}: {job.get('FailureReason')}")
        time.sleep(0.2)


def _deploy(settings: Settings, name: str, model_data_url: str) -> None:
    sagemaker = aws_client("sagemaker", settings)
    sagemaker.create_model(
        ModelName=name, PrimaryContainer={"Image": "rtinfer-xgboost", "ModelDataUrl": model_data_url}
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2})


def _load(settings: Settings, url: str, target: Path) -> LoadedModel:
    """The worker's own loader on the artifact as stored in the emulator's S3."""
    bucket, _, key = url[5:].partition("/")
    aws_client("s3", settings).download_file(bucket, key, str(target.with_suffix(".tar.gz")))
    with tarfile.open(target.with_suffix(".tar.gz")) as tar:
        tar.extractall(target, filter="data")
    return model_fn(target)


def main() -> None:
    console = Console()
    rng = np.random.default_rng(0)
    with temporary_home() as (home, settings):
        features = [f"f{i}" for i in range(N_FEATURES)]
        artifact = pack_model_artifact(
            train_model(rng), features, 0.5, "bench", {}, home / "model.tar.gz"
        ).path
        with running_emulator(home, settings):
            s3 = aws_client("s3", settings)
            s3.create_bucket(Bucket="bench")
            s3.upload_file(str(artifact), "bench", "model.tar.gz")
            with console.status("compiling with a Neo job"):
                compiled_url, compile_seconds = _compile(settings)
            urls = {"xgboost": "s3://bench/model.tar.gz", "compiled": compiled_url}
            with console.status("deploying both endpoints"):
                for name, url in urls.items():
                    _deploy(settings, name, url)
            models = {name: _load(settings, url, home / f"local-{name}") for name, url in urls.items()}
            runtime = aws_client("sagemaker-runtime", settings)

            table = Table(
                title=f"XGBoost vs TL2cgen-compiled, {N_FEATURES} features, 100 trees, 1 worker (ms)"
            )
            for column in ("rows", "model", "invoke p50", "invoke p99", "predict p50", "predict p99"):
                table.add_column(column, justify="right")
            speedups = []
            for rows, calls in CASES:
                matrix = rng.normal(size=(rows, N_FEATURES))
                body = "\n".join(",".join(f"{v:.6f}" for v in row) for row in matrix)
                measured = {}
                for name in MODELS:

                    def invoke(name: str = name, body: str = body) -> None:
                        runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")[
                            "Body"
                        ].read()

                    def predict(model: LoadedModel = models[name], matrix: np.ndarray = matrix) -> None:
                        model.predictor.predict(matrix)

                    with console.status(f"{name}: {calls} calls of {rows} row(s)"):
                        measured[name] = (
                            percentiles(time_calls(invoke, calls)),
                            percentiles(time_calls(predict, calls)),
                        )
                    (i50, i99), (p50, p99) = measured[name]
                    table.add_row(str(rows), name, f"{i50:.2f}", f"{i99:.2f}", f"{p50:.3f}", f"{p99:.3f}")
                plain, compiled = measured["xgboost"], measured["compiled"]
                speedups.append((rows, plain[0][0] / compiled[0][0], plain[1][0] / compiled[1][0]))
            console.print(table)
            ratios = Table(title="Speed-up of the compiled model (XGBoost p50 / compiled p50)")
            for column in ("rows", "invoke", "in-process predict"):
                ratios.add_column(column, justify="right")
            for rows, invoke_ratio, predict_ratio in speedups:
                ratios.add_row(str(rows), f"{invoke_ratio:.2f}x", f"{predict_ratio:.2f}x")
            console.print(ratios)
            console.print(
                f"Neo compilation job: {compile_seconds:.1f} s. invoke = boto3 call to response body read "
                "through the emulator and a model-server worker; predict = the worker's predictor in this "
                "process (nthread=1, as in the worker), scores only."
            )


if __name__ == "__main__":
    main()
