"""SageMaker Neo compilation jobs: Create/Describe/List/Stop, run in the background.

A job reads the model.tar.gz from the emulator's S3, compiles it (emulator.sagemaker.neo) and writes
`{S3OutputLocation}/{input name}-{target}.tar.gz`, going STARTING -> INPROGRESS -> COMPLETED, or FAILED
with a FailureReason, or STOPPED. Only Framework XGBOOST is compiled; the other frameworks Neo knows
fail the job with a reason. Jobs are kept in memory and written through to SQLite; a job cut short by
a restart is marked FAILED.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emulator.protocol.errors import AwsError
from emulator.protocol.pagination import paginate
from emulator.s3.backend import S3Backend, parse_s3_uri
from emulator.sagemaker.neo import CompilationError, compile_artifact
from emulator.sagemaker.validation import constraint_error
from emulator.state import Database

log = logging.getLogger(__name__)

FRAMEWORKS = ("TENSORFLOW", "KERAS", "MXNET", "ONNX", "PYTORCH", "XGBOOST", "TFLITE", "DARKNET", "SKLEARN")
TARGET_DEVICES = (
    "ml_m4", "ml_m5", "ml_m6g", "ml_c4", "ml_c5", "ml_c6g", "ml_p2", "ml_p3", "ml_g4dn", "ml_inf1",
    "ml_inf2", "ml_trn1", "ml_eia2", "jetson_nano", "rasp3b", "x86_win64", "coreml",
)  # fmt: skip
ACTIVE = ("STARTING", "INPROGRESS", "STOPPING")
SORT_KEYS = {"Name": "CompilationJobName", "CreationTime": "CreationTime", "Status": "CompilationJobStatus"}
_SCHEMA = "CREATE TABLE IF NOT EXISTS sagemaker_compilation (name TEXT PRIMARY KEY, body TEXT NOT NULL);"
_SUMMARY = ("CompilationJobName", "CompilationJobArn", "CreationTime", "CompilationStartTime",
            "CompilationEndTime", "LastModifiedTime", "CompilationJobStatus")  # fmt: skip


class _Stopped(Exception):
    """StopCompilationJob was called while the job ran."""


def _not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFound", f"Could not find compilation job {name!r}.")


def _check_request(params: dict) -> None:
    name = params.get("CompilationJobName")
    if not name:
        raise constraint_error(name, "compilationJobName", "Member must not be null")
    if not params.get("RoleArn"):
        raise constraint_error(params.get("RoleArn"), "roleArn", "Member must not be null")
    inputs = params.get("InputConfig") or {}
    try:
        parse_s3_uri(inputs.get("S3Uri") or "")
    except ValueError as exc:
        raise constraint_error(inputs.get("S3Uri"), "inputConfig.s3Uri", str(exc)) from None
    if inputs.get("Framework") not in FRAMEWORKS:
        raise constraint_error(
            inputs.get("Framework"),
            "inputConfig.framework",
            f"Member must satisfy enum value set: {list(FRAMEWORKS)}",
        )
    output = params.get("OutputConfig") or {}
    if not (output.get("S3OutputLocation") or "").startswith("s3://"):
        raise constraint_error(
            output.get("S3OutputLocation"), "outputConfig.s3OutputLocation", "Member must be an s3:// URI"
        )
    device, platform = output.get("TargetDevice"), output.get("TargetPlatform")
    if (device is None) == (platform is None):
        raise AwsError(
            "ValidationException", "OutputConfig needs exactly one of TargetDevice and TargetPlatform"
        )
    if device is not None and device not in TARGET_DEVICES:
        raise constraint_error(
            device, "outputConfig.targetDevice", f"Member must satisfy enum value set: {list(TARGET_DEVICES)}"
        )
    if platform is not None and not (platform.get("Os") and platform.get("Arch")):
        raise constraint_error(platform, "outputConfig.targetPlatform", "Member must have Os and Arch")


def _output_uri(params: dict) -> str:
    """Neo's naming: `{S3OutputLocation}/{input file without .tar.gz}-{target}.tar.gz`."""
    output = params["OutputConfig"]
    platform = output.get("TargetPlatform")
    target = output.get("TargetDevice") or f"{platform['Os']}_{platform['Arch']}".lower()
    base = params["InputConfig"]["S3Uri"].rstrip("/").rsplit("/", 1)[-1].removesuffix(".tar.gz")
    return f"{output['S3OutputLocation'].rstrip('/')}/{base}-{target}.tar.gz"


class CompilationJobs:
    def __init__(self, db: Database, s3: S3Backend, region: str, account: str) -> None:
        self._db = db
        self._s3 = s3
        self._prefix = f"arn:aws:sagemaker:{region}:{account}:compilation-job"
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="neo")
        db.create_tables(_SCHEMA)
        self._jobs: dict[str, dict] = {}
        for row in db.query("SELECT name, body FROM sagemaker_compilation"):
            job = json.loads(row["body"])
            if job["CompilationJobStatus"] in ACTIVE:
                job.update(
                    CompilationJobStatus="FAILED", FailureReason="The emulator restarted during the job."
                )
            self._jobs[row["name"]] = job
            self._save(job)

    def _save(self, job: dict) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sagemaker_compilation VALUES (?, ?)",
                (job["CompilationJobName"], json.dumps(job)),
            )

    def _update(self, job: dict, **fields: object) -> None:
        with self._lock:
            job.update(fields, LastModifiedTime=time.time())
            self._save(job)

    def create(self, params: dict) -> dict:
        _check_request(params)
        name = params["CompilationJobName"]
        now = time.time()
        with self._lock:
            if name in self._jobs:
                raise AwsError("ResourceInUse", f"Compilation job {name!r} already exists.")
            job = {
                key: copy.deepcopy(params[key])
                for key in ("CompilationJobName", "RoleArn", "InputConfig", "OutputConfig", "VpcConfig")
                if key in params
            }
            job.update(
                CompilationJobArn=f"{self._prefix}/{name.lower()}",
                CompilationJobStatus="STARTING",
                StoppingCondition=params.get("StoppingCondition") or {"MaxRuntimeInSeconds": 900},
                CreationTime=now,
                LastModifiedTime=now,
                ModelArtifacts={"S3ModelArtifacts": _output_uri(params)},
            )
            self._jobs[name] = job
            self._save(job)
        self._pool.submit(self._run, job)
        return {"CompilationJobArn": job["CompilationJobArn"]}

    def describe(self, name: str) -> dict:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise _not_found(name)
            return copy.deepcopy(job)

    def list(self, params: dict) -> dict:
        contains, status = params.get("NameContains", ""), params.get("StatusEquals")
        with self._lock:
            rows = [
                {key: job[key] for key in _SUMMARY if key in job}
                | {"CompilationTargetDevice": job["OutputConfig"].get("TargetDevice")}
                for job in self._jobs.values()
                if contains in job["CompilationJobName"] and status in (None, job["CompilationJobStatus"])
            ]
        rows = [{k: v for k, v in row.items() if v is not None} for row in rows]
        rows.sort(
            key=lambda r: r[SORT_KEYS.get(params.get("SortBy", "CreationTime"), "CreationTime")],
            reverse=params.get("SortOrder", "Ascending") == "Descending",
        )
        return paginate(
            rows, "CompilationJobSummaries", params.get("NextToken"), int(params.get("MaxResults") or 100)
        )

    def stop(self, name: str) -> dict:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise _not_found(name)
            if job["CompilationJobStatus"] in ("STARTING", "INPROGRESS"):
                self._update(job, CompilationJobStatus="STOPPING")
        return {}

    def _check_stop(self, job: dict) -> None:
        if job["CompilationJobStatus"] == "STOPPING":
            raise _Stopped

    def _run(self, job: dict) -> None:
        try:
            self._check_stop(job)
            self._update(job, CompilationJobStatus="INPROGRESS", CompilationStartTime=time.time())
            self._compile(job)
            self._update(job, CompilationJobStatus="COMPLETED", CompilationEndTime=time.time())
        except _Stopped:
            self._update(job, CompilationJobStatus="STOPPED", CompilationEndTime=time.time())
        except CompilationError as exc:
            self._update(
                job, CompilationJobStatus="FAILED", FailureReason=str(exc), CompilationEndTime=time.time()
            )
        except Exception as exc:  # an emulator bug: fail the job loudly rather than leave it running
            log.exception("compilation job %s failed", job["CompilationJobName"])
            reason = f"InternalError: {type(exc).__name__}: {exc}"
            self._update(
                job, CompilationJobStatus="FAILED", FailureReason=reason, CompilationEndTime=time.time()
            )

    def _compile(self, job: dict) -> None:
        framework = job["InputConfig"]["Framework"]
        if framework != "XGBOOST":
            raise CompilationError(
                f"Framework {framework} is not supported by this emulator; only XGBOOST is"
            )
        source_uri = job["InputConfig"]["S3Uri"]
        try:
            info = self._s3.head_object(*parse_s3_uri(source_uri))
        except AwsError as exc:
            raise CompilationError(
                f"ClientError: InputConfiguration: Unable to download model from {source_uri}: {exc.message}"
            ) from None
        with tempfile.TemporaryDirectory(prefix="neo-out-") as tmp:
            output = Path(tmp) / "model.tar.gz"
            compile_artifact(info.path, output)
            self._check_stop(job)
            destination = job["ModelArtifacts"]["S3ModelArtifacts"]
            body = output.read_bytes()
            try:
                self._s3.put_object(*parse_s3_uri(destination), body, "application/x-gzip")
            except AwsError as exc:
                raise CompilationError(
                    f"ClientError: OutputConfiguration: Unable to write to {destination}: {exc.message}"
                ) from None
        with self._lock:
            job["ModelDigests"] = {"ArtifactDigest": hashlib.sha256(body).hexdigest()}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
