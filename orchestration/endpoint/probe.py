"""Score held-out rows through a live endpoint and compare with the packaged model scored in process."""

from __future__ import annotations

import json
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from serving.artifact import MODEL_FILE, verify_manifest


@dataclass(frozen=True)
class ProbeResult:
    single_row_ms: np.ndarray  # latency of each 1-row request, as the caller sees it
    batch_ms: np.ndarray  # latency of each batched request
    batch_size: int
    endpoint_scores: np.ndarray  # from the 1-row requests, in row order
    variants: Counter

    def percentile(self, which: str, q: float) -> float:
        return float(np.percentile(getattr(self, which), q))


def _invoke(runtime, endpoint_name: str, rows: np.ndarray) -> tuple[list[float], str, float]:
    body = json.dumps({"instances": rows.tolist()})
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name, ContentType="application/json", Accept="application/json", Body=body
    )
    payload = json.loads(response["Body"].read())
    elapsed_ms = (time.perf_counter() - started) * 1000
    return payload["predictions"], response["InvokedProductionVariant"], elapsed_ms


def probe_endpoint(runtime, endpoint_name: str, rows: np.ndarray, batch_size: int = 100) -> ProbeResult:
    single_ms, scores, variants = [], [], Counter()
    for row in rows:
        predictions, variant, elapsed = _invoke(runtime, endpoint_name, row[None, :])
        single_ms.append(elapsed)
        scores.extend(predictions)
        variants[variant] += 1
    batch_ms = []
    for start in range(0, len(rows) - batch_size + 1, batch_size):
        predictions, variant, elapsed = _invoke(runtime, endpoint_name, rows[start : start + batch_size])
        batch_ms.append(elapsed)
        variants[variant] += len(predictions)
    return ProbeResult(np.array(single_ms), np.array(batch_ms), batch_size, np.array(scores), variants)


def local_scores(artifact_path: Path, rows: np.ndarray, content_sha256: str | None = None) -> np.ndarray:
    """The packaged model's scores computed in this process (after the same check as the server's)."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(artifact_path) as tar:
        tar.extractall(tmp, filter="data")
        verify_manifest(Path(tmp), content_sha256)
        booster = xgb.Booster()
        booster.load_model(str(Path(tmp) / MODEL_FILE))
    return booster.inplace_predict(rows.astype(np.float32))
