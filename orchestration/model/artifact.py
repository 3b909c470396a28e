"""Pack a trained booster into the SageMaker-layout model.tar.gz described in serving.artifact (the
model files and the script-mode code/ folder), and upload it to the artifact bucket with its sha256
in the object's metadata.

Two digests come out: `sha256`, of the tarball (the upload's metadata, the `.sha256` file), and
`content_sha256`, the artifact's digest as the model server checks it after extraction (the sha256 of
its manifest, which lists every file, code/ included): the registry records the second for the server
to compare."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import xgboost as xgb

import serving
from orchestration.buckets import ensure_bucket
from orchestration.settings import Settings
from serving.artifact import (
    CODE_DIR,
    CODE_MODULES,
    ENTRY_POINT,
    METRICS_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    artifact_digest,
    sha256_file,
    write_manifest,
)

_SERVING_DIR = Path(serving.__file__).parent


@dataclass(frozen=True)
class PackedArtifact:
    path: Path
    sha256: str  # of the tarball itself
    file_hashes: dict[str, str]
    model_version: str
    content_sha256: str  # the artifact's digest: sha256 of its manifest (serving.artifact)


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
        write_code_dir(staging / CODE_DIR)  # before the manifest, which must list every file
        file_hashes = write_manifest(staging)
        content_sha256 = artifact_digest(staging)
        with tarfile.open(out_path, "w:gz") as tar:
            for entry in sorted(staging.iterdir()):
                tar.add(entry, arcname=entry.name)
    tar_sha = sha256_file(out_path)
    Path(f"{out_path}.sha256").write_text(f"{tar_sha}  {out_path.name}\n")
    return PackedArtifact(
        path=out_path,
        sha256=tar_sha,
        file_hashes=file_hashes,
        model_version=model_version,
        content_sha256=content_sha256,
    )


def write_code_dir(code_dir: Path) -> None:
    """The script-mode code folder: the entry point, and the serving modules it imports."""
    (code_dir / "serving").mkdir(parents=True)
    shutil.copyfile(_SERVING_DIR / "entry_point.py", code_dir / ENTRY_POINT)
    for module in CODE_MODULES:
        shutil.copyfile(_SERVING_DIR / module, code_dir / "serving" / module)


def upload_artifact(s3, settings: Settings, artifact_path: Path, model_version: str, sha256: str) -> str:
    """The artifact at s3://<bucket>/models/<version>/model.tar.gz; returns that URL."""
    ensure_bucket(s3, settings.bucket, settings.region)
    key = f"models/{model_version}/model.tar.gz"
    s3.upload_file(str(artifact_path), settings.bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}})
    return f"s3://{settings.bucket}/{key}"


@contextmanager
def artifact_file(data: bytes) -> Iterator[Path]:
    """A model.tar.gz's bytes (as the IO manager loads them) as a file, for as long as the block runs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tar.gz"
        path.write_bytes(data)
        yield path
