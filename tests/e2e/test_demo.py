"""The README's demo path, as a user runs it: the `rtinfer demo` console script in a fresh state folder."""

import os
import subprocess
import sys
from pathlib import Path

RTINFER = Path(sys.executable).with_name("rtinfer")


def test_rtinfer_demo_runs_end_to_end(tmp_path):
    env = {**os.environ, "RTINFER_HOME": str(tmp_path / "state"), "COLUMNS": "120"}
    env.pop("DAGSTER_HOME", None)
    completed = subprocess.run(
        [str(RTINFER), "demo", "--customers", "1500", "--days", "56"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    out = completed.stdout
    for step in ("simulated_transactions", "transaction_features", "fraud_model"):
        assert f"✓ fraud_lifecycle › {step}" in out
    assert "roc_auc" in out and "average_precision" in out
    assert "check fraud_model_meets_floors: passed" in out
    # The run is kept in the persistent instance the UI reads.
    assert (tmp_path / "state" / "dagster" / "history").exists()
