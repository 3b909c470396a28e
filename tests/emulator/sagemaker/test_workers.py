"""Model-server instances: nothing of an endpoint outlives the emulator that started it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

WAIT_S = 30  # a loaded 2-core machine


def _processes_writing_under(folder: Path) -> list[int]:
    """Processes whose standard output is a file under `folder` (instances log to the home's logs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "fd" / "1").startswith(str(folder)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_killed_emulator_leaves_no_model_server_or_fork_server_behind(
    tmp_path, emulator_factory, artifacts, deploy_artifact
):
    home = tmp_path / "home"
    running = emulator_factory(home)
    s3 = running.client("s3")
    s3.create_bucket(Bucket="models")
    deploy_artifact(s3, running.client("sagemaker"), artifacts["v1"], "models", instances=2)
    # the instances and the fork server they come from (its output is the emulator's log)
    left = set(_processes_writing_under(home)) - {running.pid}
    assert len(left) >= 3, left

    os.kill(running.pid, signal.SIGKILL)  # the emulator alone: no chance to stop anything itself
    deadline = time.monotonic() + WAIT_S
    while (left := set(_processes_writing_under(home)) - {running.pid}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running after the emulator was killed: {sorted(left)}"
