"""Deployment packages: each zip is stored once by content and extracted to its own directory.

A code version's directory is named by its sha256, so an update never disturbs workers still running
the previous version, and uploading the same bytes twice costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from emulator.lambda_.errors import invalid_parameter, too_large

MAX_ZIP_BYTES = 50 * 1024 * 1024  # direct-upload limit
MAX_UNZIPPED_BYTES = 262_144_000


@dataclass(frozen=True)
class CodeVersion:
    sha256: str  # base64 of the digest, as CodeSha256 reports it
    size: int
    directory: Path
    archive: Path


class CodeStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()

    def _paths(self, digest_hex: str) -> tuple[Path, Path]:
        return self._root / digest_hex, self._root / f"{digest_hex}.zip"

    def save(self, zip_bytes: bytes) -> CodeVersion:
        if len(zip_bytes) > MAX_ZIP_BYTES:
            raise too_large(
                f"Code.ZipFile of {len(zip_bytes)} bytes exceeds the direct-upload limit of "
                f"{MAX_ZIP_BYTES} bytes."
            )
        try:
            archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
            unzipped = sum(entry.file_size for entry in archive.infolist())
        except zipfile.BadZipFile:
            raise invalid_parameter(
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ) from None
        if unzipped > MAX_UNZIPPED_BYTES:
            raise invalid_parameter(
                f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes (got {unzipped})."
            )
        digest = hashlib.sha256(zip_bytes).digest()
        directory, archive_path = self._paths(digest.hex())
        with self._lock:
            if not directory.exists():
                self._root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=self._root, prefix=".extract-"))
                try:
                    archive.extractall(staging)
                except Exception as exc:  # a corrupt member, an encrypted zip, a full disk...
                    shutil.rmtree(staging, ignore_errors=True)
                    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
                    raise invalid_parameter(f"Could not unzip uploaded file: {detail}") from None
                archive_path.write_bytes(zip_bytes)
                staging.rename(directory)
        return CodeVersion(base64.b64encode(digest).decode(), len(zip_bytes), directory, archive_path)

    def version(self, sha256_b64: str, size: int) -> CodeVersion:
        directory, archive = self._paths(base64.b64decode(sha256_b64).hex())
        return CodeVersion(sha256_b64, size, directory, archive)
