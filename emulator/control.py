"""Start, stop and inspect a background emulator: what `rtinfer emulator start|stop|status` calls.

The emulator runs in its own session with its pid file and log under `<home>/emulator/`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from emulator.app import HEALTH_PATH, state_dir

DEFAULT_PORT = 4566
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
_REPO_ROOT = Path(__file__).resolve().parents[1]


class EmulatorError(RuntimeError):
    pass


def default_port() -> int:
    return int(os.environ.get("RTINFER_EMULATOR_PORT", DEFAULT_PORT))


def default_home() -> Path:
    return Path(os.environ.get("RTINFER_HOME", ".rtinfer")).resolve()


def pid_file(home: Path) -> Path:
    return state_dir(home) / "emulator.pid"


def log_file(home: Path) -> Path:
    return state_dir(home) / "emulator.log"


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=1) as response:
            return json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _read_pid(home: Path) -> int | None:
    try:
        return int(pid_file(home).read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(home: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_file(home).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(port: int | None = None, home: Path | None = None) -> int:
    """Spawn the emulator in the background, wait until it answers, return its pid."""
    port = port or default_port()
    home = (home or default_home()).resolve()
    running = _read_pid(home)
    if running and _alive(running):
        raise EmulatorError(f"an emulator (pid {running}) is already running on home {home}")
    if _health(port):
        raise EmulatorError(f"port {port} already answers as an emulator; stop it or pick another port")
    state_dir(home).mkdir(parents=True, exist_ok=True)
    with open(log_file(home), "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--home", str(home)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=_REPO_ROOT,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")])),
            },
            start_new_session=True,
        )
    pid_file(home).write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file(home).unlink(missing_ok=True)
            raise EmulatorError(
                f"emulator exited with code {process.returncode} during start; log tail:\n{_log_tail(home)}"
            )
        health = _health(port)
        if health and health.get("pid") == process.pid:
            return process.pid
        time.sleep(0.1)
    _terminate(process.pid)
    pid_file(home).unlink(missing_ok=True)
    raise EmulatorError(
        f"emulator did not answer on port {port} within {START_TIMEOUT_S:.0f}s; log tail:\n{_log_tail(home)}"
    )


def _terminate(pid: int) -> None:
    """SIGTERM (the emulator stops its model workers on the way out); SIGKILL the session if it hangs."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:  # not our child: poll for existence instead
            if not _alive(pid):
                return
        time.sleep(0.05)
    # the emulator leads its own session, so this takes its workers too
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop(home: Path | None = None) -> bool:
    """Stop the emulator running on `home`; False if none was running."""
    home = (home or default_home()).resolve()
    pid = _read_pid(home)
    if pid is None or not _alive(pid):
        pid_file(home).unlink(missing_ok=True)
        return False
    _terminate(pid)
    pid_file(home).unlink(missing_ok=True)
    return True


def status(home: Path | None = None, port: int | None = None) -> dict:
    home = (home or default_home()).resolve()
    port = port or default_port()
    pid = _read_pid(home)
    health = _health(port)
    return {
        "running": bool(pid and _alive(pid) and health and health.get("pid") == pid),
        "pid": pid if pid and _alive(pid) else None,
        "port": port,
        "home": str(home),
        "answering": health is not None,
        "log": str(log_file(home)),
    }
