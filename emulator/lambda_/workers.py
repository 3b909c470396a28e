"""Execution environments: awslambdaric processes running a function's zip, and a warm pool per function.

A worker is `python -S -m awslambdaric <handler>` (the emulator's interpreter, so the runtime and
boto3 are importable as on Lambda) with the extracted zip as cwd and first on sys.path, polling its
own Runtime API server. Each worker takes one invocation at a time; its stdout/stderr is one log stream.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from emulator.lambda_.runtime_api import Invocation, Outcome, RuntimeApiServer, error_outcome

INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase, counted apart from the function timeout
_STOP_GRACE_S = 2.0
_LOG_TAIL_BYTES = 4096  # what Invoke's LogType=Tail returns, as on AWS
# Workers run with `python -S`: site-packages is on the path (awslambdaric, boto3: Lambda's runtime)
# but its .pth files are not processed, and one of them is this repository's editable install, which
# would let a function import project code it did not package. The zip's directory comes first.
_RUNTIME_PACKAGES = list(dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
# Test sessions opt in to checking every botocore call of a function against the service model: with
# RTINFER_MODEL_GUARD set (a directory for the reports), workers start through the guard's launcher,
# which sits alone in its directory (last on the path) and needs nothing but botocore.
MODEL_GUARD_ENV = "RTINFER_MODEL_GUARD"
_MODEL_GUARD_DIR = Path(__file__).resolve().parents[1] / "model_guard"


def _model_guard() -> str | None:
    return os.environ.get(MODEL_GUARD_ENV) or None


class LogWatch(Protocol):
    """Whoever reads workers' logs as they are written (CloudWatch Logs' part: EMF metrics)."""

    def watch_log(self, function: str, path: Path) -> None: ...

    def unwatch_log(self, path: Path) -> None: ...


@dataclass(frozen=True)
class FunctionSpec:
    """Everything needed to start a worker for one code version and configuration of a function."""

    name: str
    arn: str
    handler: str
    runtime: str
    code_dir: Path
    timeout_s: int
    memory_mb: int
    variables: dict[str, str]
    log_dir: Path
    region: str
    emulator_port: int
    concurrency: int
    log_watch: LogWatch | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Report:
    request_id: str
    outcome: Outcome
    log_tail: str | None = None
    duration_ms: float = 0.0  # from the handler receiving the event to its result (init excluded)


def worker_environment(spec: FunctionSpec, runtime_api: str, log_stream: str) -> dict[str, str]:
    """The environment Lambda gives a function, pointed at the emulator; nothing of the emulator's own."""
    endpoint = f"http://127.0.0.1:{spec.emulator_port}"
    guard = _model_guard()
    paths = [str(spec.code_dir), *_RUNTIME_PACKAGES, *([str(_MODEL_GUARD_DIR)] if guard else [])]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_ENDPOINT_URL": endpoint,
        "RTINFER_ENV": "local",
        "RTINFER_EMULATOR_PORT": str(spec.emulator_port),
        **({MODEL_GUARD_ENV: guard} if guard else {}),
        **spec.variables,
    }


def _exit_description(code: int) -> str:
    if code < 0:
        return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
    return f"exit status {code}"


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Worker:
    """One execution environment of a function."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        now = datetime.now(UTC)
        instance = uuid.uuid4().hex
        self.log_stream = f"{now:%Y/%m/%d}/[$LATEST]{instance}"
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = spec.log_dir / f"{now:%Y-%m-%d}-{instance}.log"
        self._invocation: Invocation | None = None
        self._killed = False
        self._runtime = RuntimeApiServer(self._init_failed)
        with open(self.log_path, "ab") as log:
            launcher = ["-m", "rtinfer_model_guard"] if _model_guard() else []
            self._process = subprocess.Popen(
                [sys.executable, "-S", *launcher, "-m", "awslambdaric", spec.handler],
                cwd=spec.code_dir,
                env=worker_environment(spec, self._runtime.address, self.log_stream),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # so a timeout kills whatever the handler spawned too
            )
        if spec.log_watch is not None:
            spec.log_watch.watch_log(spec.name, self.log_path)
        threading.Thread(target=self._watch, daemon=True, name=f"lambda-watch-{spec.name}").start()

    @property
    def alive(self) -> bool:
        return not self._killed and self._process.poll() is None

    def _exit_error(self, invocation: Invocation) -> Outcome:
        reason = _exit_description(self._process.returncode)
        return error_outcome(
            "Runtime.ExitError",
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}",
        )

    def _watch(self) -> None:
        self._process.wait()
        invocation = self._invocation
        if invocation is not None:
            invocation.finish(self._exit_error(invocation))

    def _init_failed(self, outcome: Outcome) -> None:
        invocation = self._invocation
        if invocation is not None:
            invocation.finish(outcome)

    def _log(self, line: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(line + "\n")

    def invoke(self, request_id: str, payload: bytes, want_log: bool) -> Report:
        spec = self.spec
        invocation = Invocation(request_id, payload, spec.arn, spec.timeout_s)
        start_offset = self.log_path.stat().st_size
        started = time.monotonic()
        self._log(f"START RequestId: {request_id} Version: $LATEST")
        self._invocation = invocation
        if self._process.poll() is not None:  # died while idle, before the watcher could see this request
            invocation.finish(self._exit_error(invocation))
        self._runtime.submit(invocation)
        outcome = invocation.wait(INIT_TIMEOUT_S)
        if outcome is None:
            self.kill()
            message = f"Task timed out after {spec.timeout_s:.2f} seconds"
            self._log(f"{_timestamp()} {request_id} {message}")
            outcome = error_outcome("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}")
        self._invocation = None
        finished = time.time()
        elapsed_ms = (time.monotonic() - started) * 1000
        if invocation.deadline is not None:  # delivered: time the handler, not this worker's init
            elapsed_ms = min(elapsed_ms, (finished - (invocation.deadline - spec.timeout_s)) * 1000)
        self._log(f"END RequestId: {request_id}")
        self._log(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tMemory Size: {spec.memory_mb} MB"
        )
        return Report(request_id, outcome, self._read_log(start_offset) if want_log else None, elapsed_ms)

    def _read_log(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read()[-_LOG_TAIL_BYTES:].decode(errors="replace")

    def kill(self) -> None:
        self._killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._runtime.close()
        self._unwatch_log()

    def _unwatch_log(self) -> None:
        if self.spec.log_watch is not None:
            self.spec.log_watch.unwatch_log(self.log_path)

    def stop(self) -> None:
        self._runtime.close()  # a blocked GET /next answers 410 and awslambdaric exits
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self._unwatch_log()


@dataclass
class FunctionPool:
    """Warm workers of one function version: reuse idle ones, start more up to `concurrency`.

    Callers beyond the cap wait for a worker to free up (Lambda would throttle instead).
    """

    spec: FunctionSpec
    _idle: list[Worker] = field(default_factory=list)
    _count: int = 0
    _retired: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def invoke(self, request_id: str, payload: bytes, want_log: bool = False) -> Report:
        worker = self._acquire()
        try:
            return worker.invoke(request_id, payload, want_log)
        finally:
            self._release(worker)

    def _acquire(self) -> Worker:
        dead: list[Worker] = []
        try:
            with self._cond:
                while True:
                    while self._idle:
                        worker = self._idle.pop()
                        if worker.alive:
                            return worker
                        dead.append(worker)  # crashed while idle: replace it
                        self._count -= 1
                    if self._count < self.spec.concurrency:
                        self._count += 1
                        break
                    self._cond.wait()
        finally:
            for worker in dead:
                worker.stop()
        try:
            return Worker(self.spec)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, worker: Worker) -> None:
        with self._cond:
            self._cond.notify()
            if worker.alive and not self._retired:
                self._idle.append(worker)
                return
            self._count -= 1
        worker.stop()

    def retire(self) -> None:
        """Stop idle workers now; busy ones stop when their invocation ends."""
        with self._cond:
            self._retired = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def status(self) -> dict:
        with self._cond:
            return {"workers": self._count, "idle": len(self._idle)}
