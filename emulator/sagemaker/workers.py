"""Model artifacts and worker processes: what a SageMaker instance is, locally.

An artifact (model.tar.gz in the emulator's S3) is extracted once per ETag; each instance is a
serving.model_server process on its own loopback port, forked from a warm parent (multiprocessing's
fork server, which has imported the serving stack once): importing xgboost and its scipy costs about
1.5 s of CPU, which every instance of every deployment used to pay again.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import select
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO

from emulator.protocol.errors import AwsError
from emulator.s3.backend import S3Backend, parse_s3_uri

_LOAD_FAILED_PREFIX = "MODEL_LOAD_FAILED: "  # mirrors serving.model_server; the emulator must not import it
_HEALTH_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 5.0

# The fork server starts on the first instance; only it (and the instances it forks) import serving.
_INSTANCES = multiprocessing.get_context("forkserver")
_INSTANCES.set_forkserver_preload(["serving.model_server"])


def _exit_with(emulator_pid: int) -> None:
    """End this instance when the emulator process ends, however it ends. An emulator that is killed,
    or that stops while an endpoint is still being brought up, cannot stop its instances itself, and
    an orphaned instance would keep its port, its memory and the fork server (which lives while any
    of its children does)."""
    try:
        watched = os.pidfd_open(emulator_pid)
    except ProcessLookupError:  # gone before this instance started
        os._exit(0)

    def wait() -> None:
        select.select([watched], [], [])  # a pidfd turns readable when its process exits
        os._exit(0)

    threading.Thread(target=wait, daemon=True, name="emulator-watch").start()


def _serve(model_dir: str, port: int, log_path: str, environment: dict[str, str], emulator_pid: int) -> None:
    """One instance, in its forked process: its own log, its container's environment, then the server."""
    _exit_with(emulator_pid)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.environ.update(environment)
    from serving.model_server import main

    main(["--model-dir", model_dir, "--port", str(port)])


class DeploymentError(Exception):
    """A fleet could not be brought up; the message becomes the endpoint's FailureReason."""


class ArtifactStore:
    def __init__(self, s3: S3Backend, root: Path) -> None:
        self._s3 = s3
        self._root = root
        self._lock = threading.Lock()

    def materialize(self, model_data_url: str) -> Path:
        """Extract the model.tar.gz at `model_data_url` (once per content) and return its directory.

        A damaged artifact (truncated, not a tarball, its stored body gone) raises DeploymentError
        naming the artifact and the damage; nothing of a failed extraction stays behind."""
        try:
            bucket, key = parse_s3_uri(model_data_url)
            with self._s3.open_object(bucket, key) as (info, body):
                target = self._root / info.etag
                with self._lock:
                    if not target.exists():
                        self._extract(body, target, model_data_url)
        except ValueError as exc:
            raise DeploymentError(f"could not read model data {model_data_url}: {exc}") from None
        except AwsError as exc:
            raise DeploymentError(f"could not read model data {model_data_url}: {exc.message}") from None
        return target

    def _extract(self, body: BinaryIO, target: Path, model_data_url: str) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self._root, prefix=".extract-"))
        try:
            with tarfile.open(fileobj=body, mode="r:*") as tar:
                tar.extractall(staging, filter="data")
            staging.rename(target)
        except Exception as exc:  # truncated gzip (EOFError), bad zlib data, not a tar, a full disk...
            raise DeploymentError(
                f"model data {model_data_url} is not a readable tar.gz: {_damage(exc)}"
            ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already when the rename succeeded


def _damage(exc: BaseException) -> str:
    """What is wrong, without the emulator's file names (an OSError's text carries a path)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {str(exc)[:200] or 'no detail'}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    """One model-server process (one 'instance' of a variant)."""

    def __init__(self, model_dir: Path, log_dir: Path, environment: dict[str, str]) -> None:
        self.port = _free_port()
        self.log_path = log_dir / f"worker-{self.port}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._process = _INSTANCES.Process(
            target=_serve,
            args=(str(model_dir), self.port, str(self.log_path), dict(environment), os.getpid()),
            name=f"model-server-{self.port}",
            daemon=True,  # ended with the emulator, never waited for at its exit
        )
        self._process.start()

    def wait_healthy(self, timeout: float = _HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._process.is_alive():
                raise DeploymentError(self._exit_reason())
            if self._ping():
                return
            time.sleep(0.05)
        raise DeploymentError(
            f"model server did not answer /ping within {timeout:.0f}s (log: {self.log_path})"
        )

    def _ping(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("GET", "/ping")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _exit_reason(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        for line in reversed(lines):
            if line.startswith(_LOAD_FAILED_PREFIX):
                return "model failed to load: " + line[len(_LOAD_FAILED_PREFIX) :]
        tail = " | ".join(lines[-3:]) or "no output"
        return f"model server exited with code {self._process.exitcode}: {tail}"

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(_STOP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


def start_workers(model_dir: Path, count: int, log_dir: Path, environment: dict[str, str]) -> list[Worker]:
    return [Worker(model_dir, log_dir, environment) for _ in range(count)]


def wait_all_healthy(workers: list[Worker]) -> None:
    for worker in workers:
        worker.wait_healthy()


def stop_workers(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()
