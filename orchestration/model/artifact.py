"""Pack a trained booster into the SageMaker-layout model.tar.gz described in serving.artifact."""

from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import xgboost as xgb

from serving.artifact import METRICS_FILE, MODEL_FILE, SCHEMA_FILE, sha256_file, write_manifest


@dataclass(frozen=True)
class PackedArtifact:
    path: Path
    sha256: str  # of the tarball itself
    file_hashes: dict[str, str]


def pack_model_artifact(
    booster: xgb.Booster,
    feature_names: list[str],
    threshold: float,
    model_version: str,
    metrics: dict,
    out_path: Path,
) -> PackedArtifact:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        booster.save_model(str(staging / MODEL_FILE))
        schema = {"features": feature_names, "threshold": threshold, "model_version": model_version}
        (staging / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
        (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
        file_hashes = write_manifest(staging)
        with tarfile.open(out_path, "w:gz") as tar:
            for entry in sorted(staging.iterdir()):
                tar.add(entry, arcname=entry.name)
    tar_sha = sha256_file(out_path)
    Path(f"{out_path}.sha256").write_text(f"{tar_sha}  {out_path.name}\n")
    return PackedArtifact(path=out_path, sha256=tar_sha, file_hashes=file_hashes)
