"""serving.artifact: the manifest records each file's sha256 and verification refuses an artifact that is
not the one that was packed."""

import hashlib
import json

import pytest

from serving.artifact import (
    HASHED_FILES,
    MANIFEST_FILE,
    METRICS_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    ArtifactIntegrityError,
    read_schema,
    sha256_file,
    verify_manifest,
    write_manifest,
)


@pytest.fixture
def model_dir(tmp_path):
    (tmp_path / MODEL_FILE).write_text('{"learner": {}}')
    (tmp_path / SCHEMA_FILE).write_text(json.dumps({"features": ["a", "b"], "threshold": 0.5}))
    (tmp_path / METRICS_FILE).write_text('{"auc": 0.9}')
    return tmp_path


def test_sha256_is_the_files_digest(tmp_path):
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 10_000  # more than one read block
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_write_then_verify_round_trips(model_dir):
    written = write_manifest(model_dir)
    assert set(written) == set(HASHED_FILES)
    assert json.loads((model_dir / MANIFEST_FILE).read_text()) == {"sha256": written}
    assert verify_manifest(model_dir) == written


def test_a_changed_file_is_refused_naming_it(model_dir):
    written = write_manifest(model_dir)
    (model_dir / SCHEMA_FILE).write_text(json.dumps({"features": ["a", "b"], "threshold": 0.0}))
    with pytest.raises(ArtifactIntegrityError) as raised:
        verify_manifest(model_dir)
    message = str(raised.value)
    assert message.startswith(f"sha256 mismatch for {SCHEMA_FILE}: manifest says {written[SCHEMA_FILE]}")
    assert sha256_file(model_dir / SCHEMA_FILE) in message


def test_a_missing_file_is_refused_naming_it(model_dir):
    write_manifest(model_dir)
    (model_dir / METRICS_FILE).unlink()
    with pytest.raises(ArtifactIntegrityError, match=f"{METRICS_FILE} listed in {MANIFEST_FILE} is missing"):
        verify_manifest(model_dir)


def test_no_manifest_is_refused(model_dir):
    with pytest.raises(ArtifactIntegrityError, match=f"{MANIFEST_FILE} missing from model directory"):
        verify_manifest(model_dir)


def test_extra_files_can_be_covered(model_dir):
    (model_dir / "compiled").mkdir()
    (model_dir / "compiled" / "model.so").write_bytes(b"\x7fELF")
    write_manifest(model_dir, (*HASHED_FILES, "compiled/model.so"))
    (model_dir / "compiled" / "model.so").write_bytes(b"\x7fELF!")
    with pytest.raises(ArtifactIntegrityError, match="sha256 mismatch for compiled/model.so"):
        verify_manifest(model_dir)


def test_read_schema(model_dir):
    assert read_schema(model_dir) == {"features": ["a", "b"], "threshold": 0.5}
