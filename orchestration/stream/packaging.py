"""Build the Lambda deployment package: the consumer, the shared features, pure-Python dependencies.

Dependencies are copied from the installed distributions (their RECORD file lists exactly what they
installed), so the zip holds the locked versions and building it needs no network. boto3 is not
packaged: the Lambda Python runtime provides it. The zip is reproducible: sorted entries and fixed
timestamps, so the same sources give the same CodeSha256.
"""

from __future__ import annotations

import importlib.metadata
import zipfile
from pathlib import Path

import serving

HANDLER = "serving.consumer.handler.lambda_handler"
# The consumer's own code: everything it imports from serving/ and nothing that needs numpy/xgboost.
SOURCE_MODULES = ("__init__.py", "schemas.py", "features.py", "kpl.py", "consumer")
DEPENDENCIES = ("aws-lambda-powertools", "jmespath", "typing-extensions", "tenacity")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def _source_files() -> list[tuple[Path, str]]:
    root = Path(serving.__file__).parent
    files = []
    for name in SOURCE_MODULES:
        path = root / name
        candidates = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files += [
            (candidate, f"serving/{candidate.relative_to(root).as_posix()}") for candidate in candidates
        ]
    return files


def _dependency_files(distribution: str) -> list[tuple[Path, str]]:
    dist = importlib.metadata.distribution(distribution)
    files = []
    for entry in dist.files or []:
        relative = entry.as_posix()
        if relative.startswith("..") or "__pycache__" in relative or relative.endswith(".pyc"):
            continue
        files.append((Path(dist.locate_file(entry)), relative))
    return files


def build_lambda_zip(out_path: Path) -> Path:
    entries = _source_files()
    for distribution in DEPENDENCIES:
        entries += _dependency_files(distribution)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source, arcname in sorted(entries, key=lambda pair: pair[1]):
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, source.read_bytes())
    return out_path
