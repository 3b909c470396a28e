"""What the local stack keeps after N records: emulator memory, state.db and its WAL, Kinesis rows,
audit objects, bytes per record, before and after the growth bounds, in the same run.

`python -m bench.growth [--records 50000]` runs the records through the real local stream path
(producer → Kinesis → event-source mapping → the packaged consumer → endpoint + DynamoDB state + output
stream + one audit object per batch in S3) twice, each on a fresh emulator in a temporary home:

- before: the emulator of a baseline commit (by default the last one without the bounds: Kinesis
  purged only inside PutRecords and only past 24 h, the WAL never truncated, no DynamoDB TTL),
  extracted with `git archive` and started from that tree; the stack is deployed without a lifecycle
  rule on the audit bucket (that emulator has none);
- after: this tree's emulator with RTINFER_TIME_SCALE set so that Kinesis's 24 h retention lasts
  --retention-s seconds, and the audit bucket's lifecycle rule on (whole days: audit objects are
  not expired within the run; their bytes are on disk, outside state.db).

Each run is measured when the mapping has processed every record ("drained") and again once the
retention has had time to pass ("settled"). Bytes per record = (state.db + WAL) / N.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import xgboost as xgb
from rich.console import Console
from rich.table import Table

from bench.harness import free_port
from emulator.timescale import ENV_VAR as TIME_SCALE_VAR
from orchestration.aws import aws_client
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.endpoint.actions import deploy_artifact
from orchestration.endpoint.strategies import Clients as DeployClients
from orchestration.model.artifact import pack_model_artifact
from orchestration.settings import Settings
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.replay import event_payloads
from orchestration.stream.stack import StreamStackSpec, deploy_stream_stack
from serving.features import FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[1]
# The last commit before Kinesis trimming, WAL truncation and DynamoDB TTL.
BASELINE_REF = "3286f67ad7d7540c64148fac558cf8c7db78a461"
ENDPOINT = "growth-ep"
PUT_CHUNK = 500
DAY_S = 86_400


@dataclass(frozen=True)
class Sample:
    run: str
    moment: str
    rss_mb: float
    db_mb: float
    wal_mb: float
    kinesis_rows: int
    audit_objects: int
    records: int

    @property
    def bytes_per_record(self) -> float:
        return (self.db_mb + self.wal_mb) * 1024 * 1024 / self.records


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _size_mb(path: Path) -> float:
    return path.stat().st_size / (1024 * 1024) if path.exists() else 0.0


def _count(db_path: Path, sql: str, params: tuple = ()) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchone()[0]


def sample(run: str, moment: str, home: Path, pid: int, bucket: str, records: int) -> Sample:
    db = home / "emulator" / "state.db"
    return Sample(
        run,
        moment,
        _rss_mb(pid),
        _size_mb(db),
        _size_mb(db.with_name("state.db-wal")),
        _count(db, "SELECT count(*) FROM kinesis_records"),
        _count(db, "SELECT count(*) FROM s3_objects WHERE bucket=?", (bucket,)),
        records,
    )


# ---- emulators -------------------------------------------------------------------------------------


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_rtinfer/health", timeout=1) as response:
            return orjson.loads(response.read())
    except (OSError, ValueError):
        return None


def _control(tree: Path, call: str, env: dict[str, str]) -> str:
    """Run `emulator.control.<call>` of the emulator in `tree` (its own start/stop logic)."""
    script = f"from pathlib import Path; from emulator import control; print(control.{call})"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tree,
        env={**os.environ, **env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"emulator in {tree}: {call} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


@contextmanager
def emulator(tree: Path, home: Path, env: dict[str, str]) -> Iterator[tuple[int, Settings]]:
    """The emulator whose code is in `tree`, on a free port and `home`; yields (pid, settings)."""
    port = free_port()
    pid = int(_control(tree, f"start({port}, Path({str(home)!r}))", env))
    try:
        yield pid, Settings(env="local", home=home, emulator_port=port, region="us-east-1")
    finally:
        _control(tree, f"stop(Path({str(home)!r}))", env)


def extract_baseline(ref: str, into: Path) -> Path:
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref], check=True)
    tree = into / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


# ---- the run ---------------------------------------------------------------------------------------


def _deploy_model(settings: Settings, clients: Callable, work: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2000, len(FEATURE_NAMES)))
    y = (x[:, 0] + rng.normal(scale=0.2, size=len(x)) > 0.8).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4}, xgb.DMatrix(x, label=y), 20)
    packed = pack_model_artifact(booster, list(FEATURE_NAMES), 0.5, "v1", {}, work / "model" / "model.tar.gz")
    aws = DeployClients(clients("sagemaker"), clients("cloudwatch"), clients("s3"))
    deploy_artifact(aws, settings, packed, ENDPOINT, "growth-models", instance_count=2)


def _put_all(kinesis, stream: str, payloads: list[dict], rate: float) -> dict[str, str]:
    """Put every payload at `rate` records/s; the last sequence number put to each shard."""
    last: dict[str, str] = {}
    started = time.monotonic()
    for start in range(0, len(payloads), PUT_CHUNK):
        entries = [
            {"Data": orjson.dumps(p), "PartitionKey": str(p["customer_id"])}
            for p in payloads[start : start + PUT_CHUNK]
        ]
        while entries:
            response = kinesis.put_records(StreamName=stream, Records=entries)
            retry = []
            for entry, result in zip(entries, response["Records"], strict=True):
                if "ErrorCode" in result:
                    retry.append(entry)
                elif int(result["SequenceNumber"]) > int(last.get(result["ShardId"], "0")):
                    last[result["ShardId"]] = result["SequenceNumber"]
            entries = retry
            if retry:
                time.sleep(0.1)
        ahead = (start + PUT_CHUNK) / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    return last


def _wait_drained(settings: Settings, uuid: str, last: dict[str, str], timeout_s: float) -> bool:
    """Until the mapping's checkpoint of every shard reaches the last record put there."""
    url = f"http://127.0.0.1:{settings.emulator_port}/_rtinfer/lambda/event-source-mappings/{uuid}/stats"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as response:
            checkpoints = orjson.loads(response.read())["checkpoints"]
        if all(int(checkpoints.get(shard) or 0) >= int(seq) for shard, seq in last.items()):
            return True
        time.sleep(1.0)
    return False


def run(
    label: str, tree: Path, home: Path, env: dict, spec: StreamStackSpec, payloads: list, args
) -> list[Sample]:
    with emulator(tree, home, env) as (pid, settings):

        def clients(service: str):
            return aws_client(service, settings)

        _deploy_model(settings, clients, home)
        stack = deploy_stream_stack(
            clients, spec, build_lambda_zip(home / "consumer.zip"), settings.sagemaker_role_arn
        )
        last = _put_all(clients("kinesis"), spec.input_stream, payloads, args.rate)
        if not _wait_drained(settings, stack.mapping_uuid, last, args.drain_timeout_s):
            raise RuntimeError(
                f"{label}: the mapping did not process every record in {args.drain_timeout_s}s"
            )
        drained = sample(label, "drained", home, pid, spec.audit_bucket, len(payloads))
        time.sleep(args.settle_s)
        settled = sample(label, f"+{args.settle_s:.0f} s", home, pid, spec.audit_bucket, len(payloads))
    return [drained, settled]


def print_table(samples: list[Sample], console: Console, title: str) -> None:
    table = Table(title=title)
    columns = ("run", "when", "emulator RSS MB", "state.db MB", "WAL MB", "Kinesis rows", "audit objects")
    for column in (*columns, "bytes/record"):
        table.add_column(column, justify="left" if column in ("run", "when") else "right")
    for s in samples:
        table.add_row(
            s.run,
            s.moment,
            f"{s.rss_mb:,.0f}",
            f"{s.db_mb:,.1f}",
            f"{s.wal_mb:,.1f}",
            f"{s.kinesis_rows:,}",
            f"{s.audit_objects:,}",
            f"{s.bytes_per_record:,.0f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="records/s put to the input stream")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--retention-s", type=float, default=30.0, help="real seconds Kinesis's 24 h last")
    parser.add_argument("--settle-s", type=float, default=45.0, help="wait after draining, then measure")
    parser.add_argument("--drain-timeout-s", type=float, default=600.0)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="commit whose emulator is 'before'")
    parser.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))

    with console.status("simulating traffic"):
        events, _ = simulate(SimulationConfig(n_customers=4000, n_days=args.records // 5000 + 3))
        payloads = event_payloads(events.head(args.records))
    if len(payloads) < args.records:
        raise SystemExit(f"the simulation gave {len(payloads)} events, fewer than --records {args.records}")
    spec = StreamStackSpec.named("growth", input_shards=args.shards, endpoint_name=ENDPOINT)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="rtinfer-growth-") as tmp:
        work = Path(tmp)
        if not args.no_baseline:
            tree = extract_baseline(args.baseline_ref, work)
            with console.status(
                f"before: {args.records:,} records on the emulator of {args.baseline_ref[:10]}"
            ):
                samples += run(
                    "before",
                    tree,
                    work / "before",
                    {TIME_SCALE_VAR: "1"},
                    spec.model_copy(update={"audit_expiry": False}),
                    payloads,
                    args,
                )
        scale = args.retention_s / DAY_S
        with console.status(f"after: {args.records:,} records on this tree's emulator"):
            samples += run(
                "after",
                ROOT,
                work / "after",
                {TIME_SCALE_VAR: f"{scale:.8f}"},
                spec,
                payloads,
                args,
            )
    print_table(samples, console, f"State kept after {args.records:,} records through the local stream path")
    console.print(
        f"after: {TIME_SCALE_VAR}={scale:.8f} (Kinesis's 24 h retention lasts {args.retention_s:.0f} s), "
        f"audit objects expire after {spec.predictions_retention_s // DAY_S} days; before: the emulator of "
        f"{args.baseline_ref[:10] if not args.no_baseline else '-'}, no lifecycle rule. "
        f"Rate {args.rate:,.0f} records/s over {args.shards} shards. bytes/record = (state.db + WAL) / "
        f"{args.records:,}."
    )


if __name__ == "__main__":
    main()
