"""The README's demo path, as a user runs it: the `rtinfer` console script in a fresh state folder."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

RTINFER = Path(sys.executable).with_name("rtinfer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rtinfer_demo_runs_end_to_end(tmp_path):
    env = {
        **os.environ,
        "RTINFER_HOME": str(tmp_path / "state"),
        "RTINFER_EMULATOR_PORT": str(_free_port()),
        "COLUMNS": "120",
    }
    env.pop("DAGSTER_HOME", None)

    def rtinfer(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(RTINFER), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
        )

    try:
        completed = rtinfer("demo", "--rate", "300", "--duration", "3")
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
        out = completed.stdout
        assert "emulator started" in out
        for step in (
            "simulated_transactions",
            "transaction_features",
            "fraud_model",
            "fraud_endpoint",
            "stream_stack",
        ):
            assert f"✓ fraud_lifecycle › {step}" in out
        assert "✓ replay_traffic › traffic_replay" in out
        assert re.search(r"accounted for\s*│\s*900 of 900", out)
        for step in ("train candidate", "shadow", "canary deploy", "A/B game day", "drift check"):
            assert step in out
        assert re.search(r"canary deploy\s*│.*deployed", out)
        assert "sensor verdict ROLLBACK" in out and "drift check" in out and "CRITICAL" in out
        assert "roc_auc" in out and "average_precision" in out
        assert "check fraud_model_meets_floors: passed" in out
        assert "Endpoint rtinfer-fraud (deployed)" in out
        assert re.search(r"decision agreement at threshold\s*│\s*100.00%", out)
        # The run is kept in the persistent instance the UI reads.
        assert (tmp_path / "state" / "dagster" / "history").exists()
        assert rtinfer("emulator", "status").returncode == 0
        status = rtinfer("status")
        assert status.returncode == 0 and "Registry (newest first)" in status.stdout
        rolled = rtinfer("endpoint", "rollback")
        assert rolled.returncode == 0 and '"action": "rollback"' in rolled.stdout
    finally:
        assert rtinfer("emulator", "stop", timeout=60).returncode == 0
    assert rtinfer("emulator", "status").returncode == 3
