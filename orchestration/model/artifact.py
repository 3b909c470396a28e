"""Pack a trained booster into the SageMaker-layout model.tar.gz described in serving.artifact, and
upload it to the artifact bucket with its sha256 in the object's metadata.

Two digests come out: `sha256`, of the tarball (the upload's metadata, the `.sha256` file), and
`content_sha256`, the artifact's digest as the model server checks it after extraction (the sha256 of
its manifest, which lists every file): the registry records the second for the server to compare."""

from __future__ import annotations

import contextlib
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import xgboost as xgb

from orchestration.settings import Settings
from serving.artifact import (
    METRICS_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    artifact_digest,
    sha256_file,
    write_manifest,
)


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


def _ensure_bucket(s3, bucket: str, region: str) -> None:
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket, **extra)


def upload_artifact(s3, settings: Settings, artifact_path: Path, model_version: str, sha256: str) -> str:
    """The artifact at s3://<bucket>/models/<version>/model.tar.gz; returns that URL."""
    _ensure_bucket(s3, settings.bucket, settings.region)
    key = f"models/{model_version}/model.tar.gz"
    s3.upload_file(str(artifact_path), settings.bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}})
    return f"s3://{settings.bucket}/{key}"
