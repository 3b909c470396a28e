"""The README's demo path, as a user runs it: the `rtinfer` console script in a fresh state folder.

The demo runs with SIGTERM and SIGINT ignored, as a background job of a shell (which ignores SIGINT
for it, and may ignore SIGTERM): that is how it once left `tail -F` processes holding its caller's
streams. Its output goes to files, never pipes,
so a leftover process cannot hang the test; the figures checked come from the summary it writes.
"""

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

RTINFER = Path(sys.executable).with_name("rtinfer")
RATE, DURATION_S = 300, 3
LIFECYCLE_STEPS = ["train candidate", "shadow", "canary deploy", "A/B game day", "drift check"]
DEMO_TIMEOUT_S = 900  # a loaded 2-core machine, not a quiet one
# The suite-wide pytest timeout (600 s) would end the test before the demo's own budget: the test gets
# the demo's budget plus room for the CLI calls after it (a loaded machine took 600 s and failed).
TEST_TIMEOUT_S = DEMO_TIMEOUT_S + 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_a_background_job() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_proc(pid: str, name: str) -> bytes:
    try:
        return (Path("/proc") / pid / name).read_bytes()
    except OSError:  # gone, or not ours to read
        return b""


def _session(pid: str) -> int | None:
    stat = _read_proc(pid, "stat")
    # after "(comm)": state, ppid, pgrp, session
    return int(stat.rsplit(b")", 1)[1].split()[3]) if stat else None


def demo_processes(state: Path, emulator_pid: int | None) -> dict[int, str]:
    """Live processes of this demo (they carry its RTINFER_HOME, or sit in the emulator's session)."""
    marker = f"RTINFER_HOME={state}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmdline = _read_proc(entry.name, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
        if not cmdline:  # a zombie or a kernel thread holds nothing
            continue
        ours = marker in _read_proc(entry.name, "environ").split(b"\0")
        if ours or (emulator_pid is not None and _session(entry.name) == emulator_pid):
            found[int(entry.name)] = cmdline
    return found


def _wait_until_none_left(state: Path, emulator_pid: int, timeout_s: float = 30) -> dict[int, str]:
    deadline = time.monotonic() + timeout_s
    while (left := demo_processes(state, emulator_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _figures(value, path: str = "summary"):
    """Every number in the summary, with where it sits."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _figures(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _figures(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, value


def check_summary(summary: dict) -> None:
    not_finite = [path for path, value in _figures(summary) if not math.isfinite(value)]
    assert not not_finite, not_finite
    assert summary["ok"]

    model = summary["model"]
    assert all(check["passed"] for check in model["checks"]), model["checks"]
    assert {check["name"] for check in model["checks"]} >= {"fraud_model_meets_floors"}
    assert 0.5 < model["metrics"]["roc_auc"] <= 1 and 0 < model["metrics"]["average_precision"] <= 1

    endpoint = summary["endpoint"]
    assert endpoint["outcome"] == "deployed" and endpoint["production_version"] == model["model_version"]
    assert endpoint["decision_agreement"] == 1.0 and endpoint["max_abs_score_diff"] < 1e-4
    assert 0 < endpoint["single_row_ms_p50"] <= endpoint["single_row_ms_p99"]
    assert sum(endpoint["variants"].values()) == endpoint["single_row_calls"] + (
        endpoint["batch_calls"] * endpoint["batch_size"]
    )

    stream = summary["stream"]
    assert stream["sent"] == RATE * DURATION_S and stream["accounted"] == stream["sent"]
    assert stream["dead_lettered"] == stream["malformed_sent"] > 0
    assert 0 < stream["latency_p50_ms"] <= stream["latency_p99_ms"]

    assert all(row["ok"] for row in summary["lifecycle"]), summary["lifecycle"]
    steps = {row["step"]: row for row in summary["lifecycle"]}
    assert [row["step"] for row in summary["lifecycle"] if row["step"] != "approve"] == LIFECYCLE_STEPS
    assert steps.get("approve", {"approved": True})["approved"]
    assert steps["shadow"]["paired"] > 0 and 0 <= steps["shadow"]["agreement_rate"] <= 1
    assert steps["canary deploy"]["outcome"] == "deployed", steps["canary deploy"]
    ab = steps["A/B game day"]
    assert ab["verdict"] == "ROLLBACK" and ab["ran"] == ["rollback"], ab
    assert (
        ab["reason"].startswith("guardrail breached: ") and ab["candidate"] == f"{ab['production']}-gameday"
    )
    assert ab["why"] == ab["reason"]  # the whole reason, never cut
    assert 1 <= ab["phases"] <= 3
    drift = steps["drift check"]
    assert drift["level"] == "CRITICAL" and drift["rows"] > 0 and drift["drifted_features"]
    assert drift["retrained"] == ["train_candidate"], drift


def check_sensor_decisions_in_the_instance(dagster_home: Path, summary: dict) -> None:
    """What the UI shows after the demo: the A/B rollback launched by the A/B sensor, with its reason,
    and the decision with its statistics on the ab_decisions asset."""
    import dagster as dg

    ab = next(row for row in summary["lifecycle"] if row["step"] == "A/B game day")
    drift = next(row for row in summary["lifecycle"] if row["step"] == "drift check")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_run_by_id(ab["run_ids"]["rollback"])
        assert run.tags["dagster/sensor_name"] == "ab_test_sensor"
        assert run.tags["rtinfer/decision"] == "ROLLBACK" and run.tags["rtinfer/reason"] == ab["reason"]
        assert run.tags["rtinfer/candidate"] == ab["candidate"]
        assert any(key.startswith("rtinfer/stat.") for key in run.tags), run.tags
        [decision] = instance.fetch_observations(dg.AssetKey("ab_decisions"), limit=1).records
        metadata = decision.asset_observation.metadata
        assert metadata["verdict"].value == "ROLLBACK" and metadata["reason"].value == ab["reason"]
        retrain = instance.get_run_by_id(drift["run_ids"]["train_candidate"])
        assert retrain.tags["dagster/sensor_name"] == "retrain_on_critical_drift"
        assert retrain.tags["rtinfer/reason"] == f"critical drift on {drift['partition']}"


def check_values_and_logs_in_s3(port: int) -> None:
    """Asset values and every run's compute logs are in the emulator's bucket (dagster-aws, locally)."""
    from orchestration.aws import aws_client
    from orchestration.settings import Settings

    settings = Settings(env="local", home=Path("."), emulator_port=port, region="us-east-1")
    s3 = aws_client("s3", settings)
    s3.head_object(Bucket=settings.bucket, Key="assets/transaction_features.parquet")
    s3.head_object(Bucket=settings.bucket, Key="assets/fraud_model_artifact.bin")
    logs = s3.list_objects_v2(Bucket=settings.bucket, Prefix="dagster/compute-logs/storage/")
    assert logs.get("KeyCount", 0) >= 1, logs


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_rtinfer_demo_runs_end_to_end(tmp_path):
    state = tmp_path / "state"
    port = _free_port()
    env = {**os.environ, "RTINFER_HOME": str(state), "RTINFER_EMULATOR_PORT": str(port), "COLUMNS": "120"}
    env.pop("DAGSTER_HOME", None)
    runs = iter(range(100))

    def rtinfer(*args: str, timeout: float = 120) -> tuple[int, str]:
        """Run `rtinfer args` with SIGTERM and SIGINT ignored and its output in files; (exit code,
        output)."""
        out = tmp_path / f"{next(runs)}-{args[0]}.out"
        with out.open("w") as stdout, out.with_suffix(".err").open("w") as stderr:
            code = subprocess.run(
                [str(RTINFER), *args],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                timeout=timeout,
                preexec_fn=_as_a_background_job,
            ).returncode
        return code, out.read_text() + out.with_suffix(".err").read_text()

    assert demo_processes(state, None) == {}
    emulator_pid = None
    try:
        code, output = rtinfer(
            "demo", "--rate", str(RATE), "--duration", str(DURATION_S), timeout=DEMO_TIMEOUT_S
        )
        assert code == 0, output[-6000:]
        emulator_pid = int((state / "emulator" / "emulator.pid").read_text())
        assert "emulator started" in output
        assert f"keeps running on 127.0.0.1:{port}" in output and "emulator stop" in output
        left = demo_processes(state, None)
        assert not [cmd for cmd in left.values() if cmd.startswith("tail ")], left
        assert all(_session(str(pid)) == emulator_pid for pid in left), left

        summary = json.loads((state / "demo" / "summary.json").read_text())
        check_summary(summary)
        check_sensor_decisions_in_the_instance(state / "dagster", summary)
        drift = next(row for row in summary["lifecycle"] if row["step"] == "drift check")
        with urllib.request.urlopen(drift["report_url"], timeout=30) as report:  # as the UI's link opens it
            assert (
                "Dataset Drift is detected. Dataset drift detection threshold is 0.3"
                in report.read().decode()
            )
        # The runs are kept in the persistent instance the UI reads, and the CLI works on what is left.
        assert (state / "dagster" / "history").exists()
        assert rtinfer("emulator", "status")[0] == 0
        code, output = rtinfer("status")
        assert code == 0 and "Registry (newest first)" in output, output
        assert re.search(r"Drift \d{4}-\d{2}-\d{2}", output), output  # the latest report, from the instance
        check_values_and_logs_in_s3(port)
        ab = next(row for row in summary["lifecycle"] if row["step"] == "A/B game day")
        rejected = next(line for line in output.splitlines() if ab["candidate"] in line)
        assert "Rejected" in rejected, output  # the registry follows the sensor's decision
        code, output = rtinfer("endpoint", "rollback")
        assert code == 0 and '"action": "rollback"' in output, output
    finally:
        assert rtinfer("emulator", "stop", timeout=60)[0] == 0
    assert rtinfer("emulator", "status")[0] == 3
    assert _wait_until_none_left(state, emulator_pid) == {}
