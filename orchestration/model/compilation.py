"""SageMaker Neo compilation of the packaged model, and the check that the compiled model is the same model.

On AWS, Neo accepts XGBoost models only from xgboost <= 1.3.3, so for the models this project trains
the job is expected to fail there; the lifecycle then continues with the uncompiled artifact and
records why. Locally the emulator compiles with Treelite/TL2cgen, which is what Neo uses for trees.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from orchestration.settings import Settings
from serving.artifact import artifact_digest
from serving.inference import LoadedModel, ParsedInput, model_fn, predict_fn

AGREEMENT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class CompilationOutcome:
    job_name: str
    status: str  # COMPLETED | FAILED | STOPPED | TIMED_OUT
    compiled_model_url: str | None
    failure_reason: str | None
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def compile_with_neo(
    sm, settings: Settings, model_version: str, model_data_url: str, n_features: int, timeout_s: int = 900
) -> CompilationOutcome:
    job_name = f"{model_version}-neo-{int(time.time())}"[:63]
    started = time.monotonic()
    sm.create_compilation_job(
        CompilationJobName=job_name,
        RoleArn=settings.sagemaker_role_arn,
        InputConfig={
            "S3Uri": model_data_url,
            "DataInputConfig": f'{{"data": [1, {n_features}]}}',
            "Framework": "XGBOOST",
        },
        OutputConfig={
            "S3OutputLocation": f"s3://{settings.bucket}/compiled/{model_version}/",
            "TargetDevice": "ml_m5",
        },
        StoppingCondition={"MaxRuntimeInSeconds": timeout_s},
    )
    while True:
        described = sm.describe_compilation_job(CompilationJobName=job_name)
        status = described["CompilationJobStatus"]
        if status in ("COMPLETED", "FAILED", "STOPPED"):
            break
        if time.monotonic() - started > timeout_s:
            status = "TIMED_OUT"
            break
        time.sleep(0.5)
    return CompilationOutcome(
        job_name=job_name,
        status=status,
        compiled_model_url=described.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        if status == "COMPLETED"
        else None,
        failure_reason=described.get("FailureReason") or (None if status == "COMPLETED" else status),
        seconds=round(time.monotonic() - started, 2),
    )


def _load_from_s3(s3, url: str, into: Path, expected_sha256: str | None) -> tuple[LoadedModel, str]:
    """The artifact at `url`, loaded after the model server's checks, and its digest.

    Without a recorded digest (a fresh compilation output) the artifact is pinned to the digest of
    what was just downloaded: the comparison of scores that follows is what vouches for it."""
    bucket, key = url.removeprefix("s3://").split("/", 1)
    archive = into / "model.tar.gz"
    s3.download_file(bucket, key, str(archive))
    with tarfile.open(archive) as tar:
        tar.extractall(into / "model", filter="data")
    digest = artifact_digest(into / "model")
    model = model_fn(into / "model", expected_sha256 or digest)
    return model, digest


def _one_row_seconds(model, rows: np.ndarray) -> float:
    started = time.perf_counter()
    for row in rows:
        predict_fn(ParsedInput(matrix=row[None, :]), model)
    return (time.perf_counter() - started) / len(rows)


def verify_compiled(
    s3, uncompiled_url: str, compiled_url: str, rows: np.ndarray, uncompiled_sha256: str | None = None
) -> tuple[dict[str, float], str]:
    """Score the same rows with both artifacts, each after the model server's checks (the uncompiled one
    against its recorded digest): agreement and speed-up, and the compiled artifact's digest, which is
    what gets recorded if it serves (it is the artifact these scores vouch for)."""
    with tempfile.TemporaryDirectory() as tmp_a, tempfile.TemporaryDirectory() as tmp_b:
        plain, _ = _load_from_s3(s3, uncompiled_url, Path(tmp_a), uncompiled_sha256)
        compiled, compiled_sha256 = _load_from_s3(s3, compiled_url, Path(tmp_b), None)
        expected = predict_fn(ParsedInput(matrix=rows), plain).scores
        actual = predict_fn(ParsedInput(matrix=rows), compiled).scores
        sample = rows[: min(len(rows), 300)]
        plain_s, compiled_s = _one_row_seconds(plain, sample), _one_row_seconds(compiled, sample)
    check = {
        "max_abs_diff": float(np.max(np.abs(expected - actual))),
        "rows_compared": float(len(rows)),
        "uncompiled_1row_us": plain_s * 1e6,
        "compiled_1row_us": compiled_s * 1e6,
        "speedup_1row": plain_s / compiled_s,
    }
    return check, compiled_sha256


def choose_serving_artifact(
    s3,
    sm,
    settings: Settings,
    model_version: str,
    uncompiled_url: str,
    verify_rows: np.ndarray,
    uncompiled_sha256: str | None = None,
) -> dict:
    """Compile with Neo and serve the compiled artifact only when it scores `verify_rows` like the
    uncompiled one; otherwise serve the uncompiled artifact and say why. `serving_content_sha256` is the
    digest of the artifact that serves, for the registry."""
    outcome = compile_with_neo(sm, settings, model_version, uncompiled_url, verify_rows.shape[1])
    record = {
        "model_version": model_version,
        "uncompiled_model_url": uncompiled_url,
        "compilation": outcome.as_dict(),
    }
    serving_url, reason = uncompiled_url, outcome.failure_reason
    serving_sha256 = uncompiled_sha256
    if outcome.status == "COMPLETED":
        check, compiled_sha256 = verify_compiled(
            s3, uncompiled_url, outcome.compiled_model_url, verify_rows, uncompiled_sha256
        )
        record["verification"] = check
        if check["max_abs_diff"] <= AGREEMENT_TOLERANCE:
            serving_url, serving_sha256 = outcome.compiled_model_url, compiled_sha256
        else:
            reason = (
                f"compiled predictions differ by up to {check['max_abs_diff']:.2e} (> {AGREEMENT_TOLERANCE})"
            )
    record.update(
        serving_model_url=serving_url,
        serving_content_sha256=serving_sha256,
        compiled=serving_url != uncompiled_url,
        not_compiled_because=reason,
    )
    return record
