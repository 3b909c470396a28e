"""The model artifact's layout, shared by the code that packs it and the code that serves it.

A SageMaker-layout `model.tar.gz` holds, at its root:
  xgboost-model.json    the booster in XGBoost's own JSON format (never pickle)
  feature_schema.json   feature names in column order, the operating threshold, the model version
  metrics.json          the evaluation the model was accepted on
  manifest.json         sha256 of every other file of the artifact, checked before anything is loaded

  code/inference.py     the script-mode entry point (serving/entry_point.py): SageMaker's XGBoost
                        container imports it (SAGEMAKER_PROGRAM) from code/ (SAGEMAKER_SUBMIT_DIRECTORY)
  code/serving/...      the modules it needs (CODE_MODULES), which import only numpy and xgboost

A compiled artifact (what a Neo/TL2cgen compilation job writes) keeps all of that and adds
  compiled/model.so     the same trees as a native shared library, listed in the manifest too

A manifest inside the artifact cannot vouch for itself: whoever swaps a file can rewrite it. So the
artifact's identity is its digest, the sha256 of its manifest.json (which pins every other file),
recorded in the model registry when the version is registered and handed to the model server in
the container's environment (ARTIFACT_SHA256_ENV). The server refuses an artifact whose digest is not
the recorded one, and a manifest that does not list exactly the files present, each matching.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

MODEL_FILE = "xgboost-model.json"
SCHEMA_FILE = "feature_schema.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
HASHED_FILES = (MODEL_FILE, SCHEMA_FILE, METRICS_FILE)
COMPILED_LIB = "compiled/model.so"
ARTIFACT_SHA256_ENV = "RTINFER_ARTIFACT_SHA256"  # the digest the registry recorded for this artifact
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
CODE_DIR = "code"
ENTRY_POINT = "inference.py"
# serving/ modules packed under code/serving/: the entry point's imports, and nothing else.
CODE_MODULES = ("__init__.py", "artifact.py", "inference.py", "predictors.py")


class ArtifactIntegrityError(Exception):
    """The artifact on disk is not the one that was packed or registered; the message says how."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_files(model_dir: Path) -> list[str]:
    """Every file of the artifact but the manifest, as relative POSIX paths; anything that is not a
    regular file (a link, a device) is refused. Python's own bytecode cache is not the artifact's:
    importing code/ writes it, and Python checks each cached file against its listed source."""
    found = []
    for path in sorted(model_dir.rglob("*")):
        name = path.relative_to(model_dir).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ArtifactIntegrityError(f"{name} in the artifact is not a regular file")
        if path.is_file() and name != MANIFEST_FILE and "__pycache__" not in path.parts:
            found.append(name)
    return found


def write_manifest(model_dir: Path) -> dict[str, str]:
    """List every file of `model_dir` with its sha256 in manifest.json; returns the hashes."""
    hashes = {name: sha256_file(model_dir / name) for name in artifact_files(model_dir)}
    (model_dir / MANIFEST_FILE).write_text(json.dumps({"sha256": hashes}, indent=2, sort_keys=True))
    return hashes


def artifact_digest(model_dir: Path) -> str:
    """The artifact's identity: the sha256 of its manifest.json, which pins every other file."""
    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ArtifactIntegrityError(f"{MANIFEST_FILE} missing from model directory {model_dir}")
    return sha256_file(manifest_path)


def _listed(model_dir: Path) -> dict[str, str]:
    try:
        hashes = json.loads((model_dir / MANIFEST_FILE).read_text()).get("sha256")
    except (ValueError, AttributeError):
        raise ArtifactIntegrityError(f"{MANIFEST_FILE} is not a JSON object with a sha256 map") from None
    if not isinstance(hashes, dict) or not hashes:
        raise ArtifactIntegrityError(f"{MANIFEST_FILE} lists no files: it vouches for nothing")
    for name, digest in hashes.items():
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ArtifactIntegrityError(f"{MANIFEST_FILE} gives {name} the sha256 {digest!r}")
    return hashes


def verify_manifest(model_dir: Path, expected_sha256: str | None = None) -> dict[str, str]:
    """Check the artifact in full; return the verified hashes of its files.

    With `expected_sha256` (the digest recorded in the registry) the manifest must be that one. The
    manifest must list exactly the files present (none missing, none extra), each with its sha256.
    """
    actual = artifact_digest(model_dir)
    if expected_sha256 is not None and actual != expected_sha256.strip().lower():
        raise ArtifactIntegrityError(
            f"artifact digest mismatch: expected {expected_sha256} (recorded in the registry), "
            f"actual {actual} (sha256 of {MANIFEST_FILE}): this is not the registered artifact"
        )
    hashes = _listed(model_dir)
    present = set(artifact_files(model_dir))
    missing, extra = sorted(set(hashes) - present), sorted(present - set(hashes))
    if missing:
        raise ArtifactIntegrityError(f"listed in {MANIFEST_FILE} but missing: {', '.join(missing)}")
    if extra:
        raise ArtifactIntegrityError(f"in the artifact but not listed in {MANIFEST_FILE}: {', '.join(extra)}")
    for name, expected in hashes.items():
        file_sha = sha256_file(model_dir / name)
        if file_sha != expected:
            raise ArtifactIntegrityError(
                f"sha256 mismatch for {name}: manifest says {expected}, file has {file_sha}"
            )
    return hashes


def expected_digest_from_env() -> str | None:
    """The digest the container was deployed with (ARTIFACT_SHA256_ENV), if any."""
    value = os.environ.get(ARTIFACT_SHA256_ENV, "").strip()
    if value and not _SHA256.match(value.lower()):
        raise ArtifactIntegrityError(f"{ARTIFACT_SHA256_ENV}={value!r} is not a sha256 hex digest")
    return value.lower() or None


def read_schema(model_dir: Path) -> dict:
    return json.loads((model_dir / SCHEMA_FILE).read_text())
