"""SageMaker Neo compilation jobs: created, described, listed and stopped; run in the background.

A job reads the model.tar.gz from the emulator's S3, compiles it (emulator.sagemaker.neo) and writes
`{S3OutputLocation}/{input name}-{target}.tar.gz`, going STARTING -> INPROGRESS -> COMPLETED, or FAILED
with a FailureReason, or STOPPED. Only Framework XGBOOST is compiled; the other frameworks Neo knows
fail the job with a reason. Jobs live in memory and are written through to SQLite (table
sagemaker_compilation_jobs) through emulator.typed_json; a job cut short by a restart is marked FAILED.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.protocol.errors import AwsError
from emulator.s3.backend import S3Backend, parse_s3_uri
from emulator.sagemaker.neo import CompilationError, compile_artifact
from emulator.state import Database
from emulator.typed_json import from_json, to_json

log = logging.getLogger(__name__)

TABLE = "sagemaker_compilation_jobs"
ACTIVE = ("STARTING", "INPROGRESS", "STOPPING")
SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, body TEXT NOT NULL);"


@dataclass(frozen=True)
class InputConfig:
    s3_uri: str
    framework: str
    data_input_config: str | None = None
    framework_version: str | None = None


@dataclass(frozen=True)
class TargetPlatform:
    os: str
    arch: str
    accelerator: str | None = None


@dataclass(frozen=True)
class OutputConfig:
    s3_output_location: str
    target_device: str | None = None  # exactly one of target_device and target_platform
    target_platform: TargetPlatform | None = None
    compiler_options: str | None = None
    kms_key_id: str | None = None

    def target(self) -> str:
        """The target as Neo names it in the output file."""
        platform = self.target_platform
        return self.target_device or f"{platform.os}_{platform.arch}".lower()  # type: ignore[union-attr]


@dataclass(frozen=True)
class JobSpec:
    """What CreateCompilationJob asks for."""

    name: str
    role_arn: str
    input: InputConfig
    output: OutputConfig
    stopping_condition: dict[str, int]
    vpc_config: dict[str, Any] | None = None  # kept for Describe: jobs here run without a network

    def output_uri(self) -> str:
        """Neo's naming: `{S3OutputLocation}/{input file without .tar.gz}-{target}.tar.gz`."""
        base = self.input.s3_uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tar.gz")
        return f"{self.output.s3_output_location.rstrip('/')}/{base}-{self.output.target()}.tar.gz"


@dataclass
class CompilationJob:
    spec: JobSpec
    arn: str
    artifact_uri: str
    creation_time: float
    last_modified_time: float
    status: str = "STARTING"
    start_time: float | None = None
    end_time: float | None = None
    failure_reason: str | None = None
    artifact_digest: str | None = None  # sha256 of the compiled tarball


class _Stopped(Exception):
    """StopCompilationJob was called while the job ran."""


def _not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFound", f"Could not find compilation job {name!r}.")


class CompilationJobs:
    def __init__(self, db: Database, s3: S3Backend, region: str, account: str) -> None:
        self._db = db
        self._s3 = s3
        self._prefix = f"arn:aws:sagemaker:{region}:{account}:compilation-job"
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="neo")
        db.create_tables(SCHEMA)
        self._jobs: dict[str, CompilationJob] = {}
        for row in db.query(f"SELECT name, body FROM {TABLE}"):
            try:
                job = from_json(CompilationJob, row["body"])
            except Exception as exc:  # a damaged row: left as it is, the other jobs load
                log.warning(
                    "skipping the damaged compilation job %r: %s: %s", row["name"], type(exc).__name__, exc
                )
                continue
            if job.status in ACTIVE:
                job.status, job.failure_reason = "FAILED", "The emulator restarted during the job."
                self._save(job)
            self._jobs[row["name"]] = job

    def _save(self, job: CompilationJob) -> None:
        with self._db.transaction() as conn:
            conn.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?)", (job.spec.name, to_json(job)))

    def _update(self, job: CompilationJob, **fields: object) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(job, name, value)
            job.last_modified_time = time.time()
            self._save(job)

    def _get(self, name: str) -> CompilationJob:
        job = self._jobs.get(name)
        if job is None:
            raise _not_found(name)
        return job

    def create(self, spec: JobSpec) -> CompilationJob:
        now = time.time()
        with self._lock:
            if spec.name in self._jobs:
                raise AwsError("ResourceInUse", f"Compilation job {spec.name!r} already exists.")
            job = CompilationJob(spec, f"{self._prefix}/{spec.name.lower()}", spec.output_uri(), now, now)
            self._jobs[spec.name] = job
            self._save(job)
        self._pool.submit(self._run, job)
        return job

    def describe(self, name: str) -> CompilationJob:
        with self._lock:
            return copy.deepcopy(self._get(name))

    def list(self, name_contains: str, status: str | None) -> list[CompilationJob]:
        with self._lock:
            return [
                copy.deepcopy(job)
                for job in self._jobs.values()
                if name_contains in job.spec.name and status in (None, job.status)
            ]

    def stop(self, name: str) -> None:
        with self._lock:
            job = self._get(name)
            if job.status in ("STARTING", "INPROGRESS"):
                self._update(job, status="STOPPING")

    def _check_stop(self, job: CompilationJob) -> None:
        if job.status == "STOPPING":
            raise _Stopped

    def _run(self, job: CompilationJob) -> None:
        try:
            self._check_stop(job)
            self._update(job, status="INPROGRESS", start_time=time.time())
            self._compile(job)
            self._update(job, status="COMPLETED", end_time=time.time())
        except _Stopped:
            self._update(job, status="STOPPED", end_time=time.time())
        except CompilationError as exc:
            self._update(job, status="FAILED", failure_reason=str(exc), end_time=time.time())
        except Exception as exc:  # an emulator bug: fail the job loudly rather than leave it running
            log.exception("compilation job %s failed", job.spec.name)
            reason = f"InternalError: the emulator failed ({type(exc).__name__}); see its log"
            self._update(job, status="FAILED", failure_reason=reason, end_time=time.time())

    def _compile(self, job: CompilationJob) -> None:
        framework = job.spec.input.framework
        if framework != "XGBOOST":
            raise CompilationError(
                f"Framework {framework} is not supported by this emulator; only XGBOOST is"
            )
        source_uri = job.spec.input.s3_uri
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
            body = output.read_bytes()
            try:
                self._s3.put_object(*parse_s3_uri(job.artifact_uri), body, "application/x-gzip")
            except AwsError as exc:
                raise CompilationError(
                    f"ClientError: OutputConfiguration: Unable to write to {job.artifact_uri}: {exc.message}"
                ) from None
        with self._lock:
            job.artifact_digest = hashlib.sha256(body).hexdigest()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
