"""The emulator's CPU per DynamoDB operation of the consumer's call mix, this tree beside a baseline.

`python -m bench.emulator_dynamodb [--baseline-ref REF]`: exports the baseline's `emulator/`
(git archive of the ref) into a temporary folder and starts two emulators, the baseline's and this
tree's, each on its own port and home. Against each it makes the consumer's own DynamoDB calls
(serving.consumer.state_store.DynamoFeatureStore, real boto3), one kind of call at a time:

- BatchGetItem of 100 keys (feature state: customers and terminals, most of them stored);
- BatchWriteItem of 25 customer items (packed state, last applied event, TTL);
- TransactWriteItems of 100 terminal updates (SET the TTL, ADD per-day counters, REMOVE stale days) on
  terminals holding 30 days of counters.

It reads each emulator's CPU (user + system, every thread, from /proc) around each block of calls and
prints µs of emulator CPU per call, and per stream record for the consumer's mix per 500-record batch
(MIX). The two emulators take turns block by block, so the machine's noise falls on both alike; the
emulators both run, but only one is called at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.harness import free_port
from orchestration.aws import aws_client
from orchestration.settings import Settings
from orchestration.stream.stack import ensure_table, ensure_ttl
from serving.consumer.state_store import STATE_TTL_ATTRIBUTE, DynamoFeatureStore, LoadedCustomer
from serving.features import MS_PER_DAY, CustomerState, TerminalState

TABLE = "bench-feature-state"
CUSTOMERS = 4000
TERMINALS = 2000
TODAY = 20_000  # a UTC day number: the counters' days are around it
# Per 500-record batch the consumer makes about 650 key reads, 224 customer writes, 400 terminal updates.
MIX = {"BatchGetItem": 6.5, "BatchWriteItem": 9.0, "TransactWriteItems": 4.0}
RECORDS_PER_BATCH = 500
_REPO = Path(__file__).resolve().parents[1]
_START_TIMEOUT_S = 60.0
# The emulator before its per-item cuts (expression parses kept, sizes stored, items spliced):
# what the default run compares with. Any ref of this repository will do.
BASELINE_REF = "7c9f101"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _emulator(source: Path, home: Path) -> Iterator[tuple[int, Settings]]:
    """An emulator whose code comes from `source` (a folder holding `emulator/`), on a free port."""
    port = free_port()
    log = open(home / "emulator.log", "ab")  # noqa: SIM115 - open for the process's whole life
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--home", str(home)],
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_rtinfer/health", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the emulator from {source} did not start; see {home}/emulator.log"
                    ) from None
                time.sleep(0.1)
        yield process.pid, Settings(env="local", home=home, emulator_port=port, region="us-east-1")
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _export_emulator(ref: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(_REPO), "archive", ref, "emulator"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def _customer(rng: random.Random, customer_id: str) -> LoadedCustomer:
    """A customer with a few weeks of history, as the consumer leaves it after a batch."""
    state = CustomerState()
    last = TODAY * MS_PER_DAY
    times = sorted(last - rng.randrange(30 * MS_PER_DAY) for _ in range(rng.randint(5, 40)))
    state.times_ms = times
    state.totals = [0.0]
    for _ in times:
        state.totals.append(state.totals[-1] + rng.uniform(1, 200))
    state.last_ms = times[-1]
    state.devices = {f"device-{customer_id}-{i}": times[-1] for i in range(rng.randint(1, 3))}
    return LoadedCustomer(state, (times[-1], f"req-{customer_id}-{times[-1]}"))


class _Workload:
    """The consumer's calls against one emulator, through the consumer's own state store."""

    def __init__(self, settings: Settings, seed: int) -> None:
        dynamodb = aws_client("dynamodb", settings)
        ensure_table(dynamodb, TABLE, "pk")
        ensure_ttl(dynamodb, TABLE, STATE_TTL_ATTRIBUTE)
        self.store = DynamoFeatureStore(dynamodb, TABLE)
        self.rng = random.Random(seed)
        self.customer_ids = [f"{i:06d}" for i in range(CUSTOMERS)]
        self.terminal_ids = [f"{i:05d}" for i in range(TERMINALS)]
        self.terminals = {t: TerminalState() for t in self.terminal_ids}
        # seed most of the state the reads find
        for start in range(0, CUSTOMERS * 9 // 10, 225):
            self.write_customers(self.customer_ids[start : start + 225])
        for start in range(0, TERMINALS * 9 // 10, 100):
            self.update_terminals(self.terminal_ids[start : start + 100], range(TODAY - 29, TODAY + 1))

    def write_customers(self, ids: list[str]) -> None:
        self.store.save_customers({c: _customer(self.rng, c) for c in ids})

    def update_terminals(self, ids: list[str], days: range = range(TODAY - 1, TODAY + 1)) -> None:
        """Add to each terminal's counters of one of `days` (all of them when seeding); one in five
        also has a day that fell out of the windows, which the update removes."""
        increments = {}
        for terminal in ids:
            picked = days if len(days) > 2 else [self.rng.choice(days)]
            increments[terminal] = {day: self.rng.randint(1, 3) for day in picked}
            known = self.terminals[terminal]
            for day, count in increments[terminal].items():
                known.daily_counts[day] = known.daily_counts.get(day, 0) + count
            if self.rng.random() < 0.2:
                known.daily_counts[TODAY - 60] = 1
        self.store.add_terminal_counts(increments, dict(self.terminals))
        for terminal in ids:
            self.terminals[terminal].daily_counts.pop(TODAY - 60, None)

    def calls(self) -> dict[str, Callable[[], None]]:
        """One call of each operation, on keys drawn afresh each time."""
        return {
            "BatchGetItem": lambda: self.store.load(
                set(self.rng.sample(self.customer_ids, 60)), set(self.rng.sample(self.terminal_ids, 40))
            ),
            "BatchWriteItem": lambda: self.write_customers(self.rng.sample(self.customer_ids, 25)),
            "TransactWriteItems": lambda: self.update_terminals(self.rng.sample(self.terminal_ids, 100)),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_dynamodb", description=__doc__)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the baseline emulator")
    parser.add_argument("--rounds", type=int, default=6, help="blocks of each operation per emulator")
    parser.add_argument("--calls", type=int, default=40, help="calls per block")
    args = parser.parse_args(argv)
    console = Console()
    cpu: dict[str, dict[str, float]] = {"baseline": {}, "this tree": {}}
    with tempfile.TemporaryDirectory(prefix="rtinfer-bench-") as tmp:
        root = Path(tmp)
        sources = {"baseline": root / "baseline", "this tree": _REPO}
        _export_emulator(args.baseline_ref, sources["baseline"])
        for side in sources:
            (root / side / "home").mkdir(parents=True)
        with contextlib.ExitStack() as stack, console.status("starting the emulators, seeding") as status:
            workloads = {}
            for side, source in sources.items():
                pid, settings = stack.enter_context(_emulator(source, root / side / "home"))
                workloads[side] = (pid, _Workload(settings, seed=0))
            for round_index in range(args.rounds):
                status.update(f"round {round_index + 1} of {args.rounds}")
                for operation in MIX:
                    for side, (pid, workload) in workloads.items():
                        call = workload.calls()[operation]
                        for _ in range(3):
                            call()  # warm: connections, compiled shapes, caches
                        before = _cpu_seconds(pid)
                        for _ in range(args.calls):
                            call()
                        cpu[side][operation] = cpu[side].get(operation, 0.0) + _cpu_seconds(pid) - before
    calls = args.rounds * args.calls
    table = Table(title=f"Emulator CPU per DynamoDB call, consumer's mix ({calls} calls of each, same run)")
    baseline_column = f"baseline ({args.baseline_ref}) µs"
    for column in ("operation", "per 500 records", baseline_column, "this tree µs", "ratio"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    per_record = {side: 0.0 for side in cpu}
    for operation, per_batch in MIX.items():
        us = {side: 1e6 * cpu[side][operation] / calls for side in cpu}
        for side in cpu:
            per_record[side] += us[side] * per_batch / RECORDS_PER_BATCH
        table.add_row(
            operation,
            f"{per_batch:g}",
            f"{us['baseline']:,.0f}",
            f"{us['this tree']:,.0f}",
            f"{us['this tree'] / us['baseline']:.2f}×",
        )
    table.add_row(
        "per stream record (the mix)",
        "",
        f"{per_record['baseline']:,.1f}",
        f"{per_record['this tree']:,.1f}",
        f"{per_record['this tree'] / per_record['baseline']:.2f}×",
    )
    console.print(table)
    console.print(
        "µs: the emulator process's CPU (user + system, every thread) over a block of calls / calls; "
        "per stream record: the mix's calls per 500-record batch (BatchGetItem of 100 keys, BatchWriteItem "
        "of 25 items, TransactWriteItems of 100 updates) / 500."
    )


if __name__ == "__main__":
    main()
