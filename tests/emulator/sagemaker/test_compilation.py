"""Neo compilation jobs: lifecycle, the compiled artifact, serving it, and failures with a reason."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from serving.artifact import COMPILED_LIB, MODEL_FILE, sha256_file, verify_manifest

ROLE = "arn:aws:iam::000000000000:role/neo"
DONE = ("COMPLETED", "FAILED", "STOPPED")


@pytest.fixture(scope="module")
def sagemaker(clients):
    return clients["sagemaker"]


def _create(sagemaker, name: str, s3_uri: str, framework: str = "XGBOOST") -> None:
    sagemaker.create_compilation_job(
        CompilationJobName=name,
        RoleArn=ROLE,
        InputConfig={"S3Uri": s3_uri, "DataInputConfig": '{"data": [1, 5]}', "Framework": framework},
        OutputConfig={"S3OutputLocation": "s3://models/compiled", "TargetDevice": "ml_m5"},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )


def _wait(sagemaker, wait_for, name: str) -> tuple[dict, list[str]]:
    """Describe the job until it is done; its final description and every status seen on the way."""
    statuses: list[str] = []

    def done() -> dict | None:
        job = sagemaker.describe_compilation_job(CompilationJobName=name)
        if not statuses or statuses[-1] != job["CompilationJobStatus"]:
            statuses.append(job["CompilationJobStatus"])
        return job if job["CompilationJobStatus"] in DONE else None

    job = wait_for(done, timeout=120, what=lambda: f"compilation job {name} done (still {statuses[-1]})")
    return job, statuses


@pytest.fixture(scope="module")
def compiled(sagemaker, uploaded, wait_for) -> dict:
    _create(sagemaker, "neo-v1", uploaded["v1"])
    job, statuses = _wait(sagemaker, wait_for, "neo-v1")
    return {"job": job, "statuses": statuses}


def test_compile_job_completes_with_the_compiled_artifact(compiled, clients, tmp_path):
    job = compiled["job"]
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert compiled["statuses"][-2:] == ["INPROGRESS", "COMPLETED"]
    assert job["CompilationStartTime"] <= job["CompilationEndTime"]
    assert job["CompilationJobArn"].endswith(":compilation-job/neo-v1")
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == "s3://models/compiled/model-ml_m5.tar.gz"
    assert job["FailureReason"] == ""  # required by DescribeCompilationJob's model, empty on success
    body = clients["s3"].get_object(Bucket="models", Key="compiled/model-ml_m5.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extractall(tmp_path, filter="data")
    hashes = verify_manifest(tmp_path)  # every file, the library included, matches its sha256
    assert hashes[COMPILED_LIB] == sha256_file(tmp_path / COMPILED_LIB)
    assert MODEL_FILE in hashes  # the original files are kept
    summaries = clients["sagemaker"].list_compilation_jobs(NameContains="neo-v1")["CompilationJobSummaries"]
    assert [(s["CompilationJobName"], s["CompilationJobStatus"]) for s in summaries] == [
        ("neo-v1", "COMPLETED")
    ]


def test_compiled_model_serves_the_same_predictions(compiled, clients, deploy, artifacts):
    sagemaker, runtime = clients["sagemaker"], clients["sagemaker-runtime"]
    sagemaker.create_model(
        ModelName="model-v1-compiled",
        PrimaryContainer={
            "Image": "rtinfer-xgboost",
            "ModelDataUrl": compiled["job"]["ModelArtifacts"]["S3ModelArtifacts"],
        },
    )
    deploy(
        "compiled",
        ProductionVariants=[
            {"VariantName": "neo", "ModelName": "model-v1-compiled", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip
    rows = np.random.default_rng(7).normal(size=(200, 5))
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows)
    answer = runtime.invoke_endpoint(EndpointName="compiled", Body=body, ContentType="text/csv")
    served = np.array(json.loads(answer["Body"].read())["predictions"])
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(artifacts["v1"]) as tar:
        tar.extract(MODEL_FILE, tmp, filter="data")
        booster = xgb.Booster(model_file=str(Path(tmp) / MODEL_FILE))
    np.testing.assert_allclose(served, booster.inplace_predict(rows), atol=1e-5)


@pytest.fixture(scope="module")
def not_a_model(clients) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"just some notes"
        info = tarfile.TarInfo("notes.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    clients["s3"].put_object(Bucket="models", Key="notes/model.tar.gz", Body=buffer.getvalue())
    return "s3://models/notes/model.tar.gz"


@pytest.mark.parametrize(
    ("name", "source", "framework", "reason"),
    [
        ("neo-pytorch", "v1", "PYTORCH", "Framework PYTORCH is not supported by this emulator"),
        ("neo-missing", "s3://models/nothing/model.tar.gz", "XGBOOST", "Unable to download model from"),
        ("neo-notes", "notes", "XGBOOST", "not an XGBoost model artifact: xgboost-model.json missing"),
    ],
)
def test_bad_input_fails_the_job_with_a_reason(
    sagemaker, uploaded, not_a_model, wait_for, name, source, framework, reason
):
    uri = {"v1": uploaded["v1"], "notes": not_a_model}.get(source, source)
    _create(sagemaker, name, uri, framework)
    job, _ = _wait(sagemaker, wait_for, name)
    assert job["CompilationJobStatus"] == "FAILED"
    assert reason in job["FailureReason"]


def test_request_errors(sagemaker, uploaded, compiled):
    with pytest.raises(ClientError) as raised:
        _create(sagemaker, "neo-v1", uploaded["v1"])
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_compilation_job(CompilationJobName="neo-never")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as raised:
        _create(sagemaker, "neo-caffe", uploaded["v1"], "CAFFE")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "inputConfig.framework" in raised.value.response["Error"]["Message"]


def test_stop_compilation_job(sagemaker, uploaded, wait_for):
    _create(sagemaker, "neo-stopped", uploaded["v2"])
    sagemaker.stop_compilation_job(CompilationJobName="neo-stopped")
    job, statuses = _wait(sagemaker, wait_for, "neo-stopped")
    assert job["CompilationJobStatus"] == "STOPPED"
    assert "COMPLETED" not in statuses
