"""What a Neo compilation does to an XGBoost model.tar.gz, locally: Treelite + TL2cgen + gcc.

The output tarball keeps every input file and adds the compiled library; its sha256 goes into the
artifact's manifest.json (after checking the manifest's existing entries), so the model server's
integrity check covers the library too. The library is built for this machine whatever the target
device: it is what the local workers run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
from pathlib import Path

# mirrors serving.artifact (the emulator does not import the code it hosts)
MODEL_FILE = "xgboost-model.json"
MANIFEST_FILE = "manifest.json"
COMPILED_LIB = "compiled/model.so"
# Appended after tl2cgen's own -O3. For 200 trees of depth 6 here: -O3 took 10.4 s to build and
# predicted one row in 112 us, -O2 5.7 s / 79 us, -O1 2.8 s / 84 us: -O1 is the fast build.
COMPILER_OPTIONS = ["-O1"]


class CompilationError(Exception):
    """The model could not be compiled; the message becomes the job's FailureReason."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _update_manifest(staging: Path) -> None:
    manifest_path = staging / MANIFEST_FILE
    if not manifest_path.exists():
        return  # not an rtinfer artifact: nothing to keep consistent
    manifest = json.loads(manifest_path.read_text())
    for name, expected in manifest.get("sha256", {}).items():
        if not (staging / name).exists() or _sha256(staging / name) != expected:
            raise CompilationError(f"input artifact is inconsistent: {name} does not match {MANIFEST_FILE}")
    manifest.setdefault("sha256", {})[COMPILED_LIB] = _sha256(staging / COMPILED_LIB)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def compile_artifact(source_tar: Path, output_tar: Path) -> None:
    """Compile the XGBoost model inside `source_tar` into `output_tar` (same files + the library)."""
    with tempfile.TemporaryDirectory(prefix="neo-") as tmp:
        staging = Path(tmp) / "model"
        try:
            with tarfile.open(source_tar, "r:*") as tar:
                tar.extractall(staging, filter="data")
        except Exception as exc:  # truncated gzip (EOFError), bad zlib data, not a tar, a missing body...
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
            raise CompilationError(
                f"InputConfig.S3Uri is not a readable tar.gz: {type(exc).__name__}: {detail}"
            ) from None
        model_file = staging / MODEL_FILE
        if not model_file.exists():
            found = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
            raise CompilationError(
                f"not an XGBoost model artifact: {MODEL_FILE} missing from the tarball (found {found})"
            )
        import tl2cgen  # heavy imports only when a job actually runs
        import treelite

        try:
            model = treelite.frontend.load_xgboost_model(str(model_file))
        except treelite.TreeliteError as exc:
            raise CompilationError(f"{MODEL_FILE} is not a loadable XGBoost model: {exc}") from None
        (staging / COMPILED_LIB).parent.mkdir(parents=True, exist_ok=True)
        try:
            tl2cgen.export_lib(
                model,
                toolchain="gcc",
                libpath=str(staging / COMPILED_LIB),
                params={"parallel_comp": max(1, min(4, os.cpu_count() or 1))},
                options=COMPILER_OPTIONS,
            )
        except Exception as exc:  # tl2cgen raises its own and the toolchain's errors
            detail = str(exc).replace(tmp, "<build>")[:500]  # the toolchain names its build folder
            raise CompilationError(f"compiler error: {type(exc).__name__}: {detail}") from None
        _update_manifest(staging)
        with tarfile.open(output_tar, "w:gz") as tar:
            for entry in sorted(staging.iterdir()):
                tar.add(entry, arcname=entry.name)
