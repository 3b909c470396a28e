"""The model artifact's layout, shared by the code that packs it and the code that serves it.

A SageMaker-layout `model.tar.gz` holds, at its root:
  xgboost-model.json    the booster in XGBoost's own JSON format (never pickle)
  feature_schema.json   feature names in column order, the operating threshold, the model version
  metrics.json          the evaluation the model was accepted on
  manifest.json         sha256 of each file above, checked before anything is loaded

  code/inference.py     the script-mode entry point (serving/entry_point.py): SageMaker's XGBoost
                        container imports it (SAGEMAKER_PROGRAM) from code/ (SAGEMAKER_SUBMIT_DIRECTORY)
  code/serving/...      the modules it needs (CODE_MODULES), which import only numpy and xgboost

A compiled artifact (what a Neo/TL2cgen compilation job writes) keeps all of that and adds
  compiled/model.so     the same trees as a native shared library, listed in the manifest too
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODEL_FILE = "xgboost-model.json"
SCHEMA_FILE = "feature_schema.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
HASHED_FILES = (MODEL_FILE, SCHEMA_FILE, METRICS_FILE)
COMPILED_LIB = "compiled/model.so"
CODE_DIR = "code"
ENTRY_POINT = "inference.py"
# serving/ modules packed under code/serving/: the entry point's imports, and nothing else.
CODE_MODULES = ("__init__.py", "artifact.py", "inference.py", "predictors.py")


class ArtifactIntegrityError(Exception):
    """The artifact on disk is not the one that was packed (missing file or sha256 mismatch)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(model_dir: Path, files: tuple[str, ...] = HASHED_FILES) -> dict[str, str]:
    hashes = {name: sha256_file(model_dir / name) for name in files}
    (model_dir / MANIFEST_FILE).write_text(json.dumps({"sha256": hashes}, indent=2, sort_keys=True))
    return hashes


def verify_manifest(model_dir: Path) -> dict[str, str]:
    """Check every file the manifest names against its recorded sha256; return the hashes."""
    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.exists():
        raise ArtifactIntegrityError(f"{MANIFEST_FILE} missing from model directory {model_dir}")
    hashes = json.loads(manifest_path.read_text())["sha256"]
    for name, expected in hashes.items():
        path = model_dir / name
        if not path.exists():
            raise ArtifactIntegrityError(f"{name} listed in {MANIFEST_FILE} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactIntegrityError(
                f"sha256 mismatch for {name}: manifest says {expected}, file has {actual}"
            )
    return hashes


def read_schema(model_dir: Path) -> dict:
    return json.loads((model_dir / SCHEMA_FILE).read_text())
