"""What the benches share: a free port, timing and percentiles, the model the latency benches serve,
and an emulator in a temporary home."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xgboost as xgb

from emulator import control
from orchestration.settings import Settings

N_FEATURES = 25
WARMUP = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_model(rng: np.random.Generator) -> xgb.Booster:
    """A 100-tree XGBoost model over N_FEATURES random features."""
    x = rng.normal(size=(5000, N_FEATURES))
    y = (x[:, :3].sum(axis=1) + rng.normal(scale=0.5, size=len(x)) > 0).astype(int)
    return xgb.train({"objective": "binary:logistic", "max_depth": 6}, xgb.DMatrix(x, label=y), 100)


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    p50, p99 = np.percentile(np.array(seconds) * 1e3, [50, 99])
    return float(p50), float(p99)


def time_calls(call: Callable[[], object], calls: int) -> list[float]:
    """Seconds per call over `calls` calls, after WARMUP untimed ones."""
    for _ in range(WARMUP):
        call()
    timings = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return timings


@contextmanager
def temporary_home() -> Iterator[tuple[Path, Settings]]:
    """A temporary home and the local settings of an emulator on a free port (not started yet)."""
    with tempfile.TemporaryDirectory(prefix="rtinfer-bench-") as tmp:
        home = Path(tmp)
        yield home, Settings(env="local", home=home, emulator_port=free_port(), region="us-east-1")


@contextmanager
def running_emulator(home: Path, settings: Settings) -> Iterator[int]:
    """The emulator of `settings` running on `home` for the block; yields its pid."""
    pid = control.start(settings.emulator_port, home)
    try:
        yield pid
    finally:
        control.stop(home)
