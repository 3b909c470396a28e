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
    artifact_digest,
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
    with pytest.raises(
        ArtifactIntegrityError, match=f"listed in {MANIFEST_FILE} but missing: {METRICS_FILE}"
    ):
        verify_manifest(model_dir)


def test_no_manifest_is_refused(model_dir):
    with pytest.raises(ArtifactIntegrityError, match=f"{MANIFEST_FILE} missing from model directory"):
        verify_manifest(model_dir)


def test_every_file_is_covered_including_a_compiled_library(model_dir):
    (model_dir / "compiled").mkdir()
    (model_dir / "compiled" / "model.so").write_bytes(b"\x7fELF")
    assert "compiled/model.so" in write_manifest(model_dir)
    (model_dir / "compiled" / "model.so").write_bytes(b"\x7fELF!")
    with pytest.raises(ArtifactIntegrityError, match="sha256 mismatch for compiled/model.so"):
        verify_manifest(model_dir)


def test_a_file_the_manifest_does_not_list_is_refused(model_dir):
    write_manifest(model_dir)
    (model_dir / "compiled").mkdir()
    (model_dir / "compiled" / "model.so").write_bytes(b"\x7fELF")
    with pytest.raises(ArtifactIntegrityError, match=f"not listed in {MANIFEST_FILE}: compiled/model.so"):
        verify_manifest(model_dir)


@pytest.mark.parametrize("manifest", ['{"sha256": {}}', "{}", '{"sha256": []}', "[]", "not json"])
def test_a_manifest_that_vouches_for_nothing_is_refused(model_dir, manifest):
    (model_dir / MANIFEST_FILE).write_text(manifest)
    with pytest.raises(ArtifactIntegrityError, match="lists no files|sha256 map"):
        verify_manifest(model_dir)


def test_a_manifest_recomputed_over_a_swapped_file_is_refused_by_the_recorded_digest(model_dir):
    write_manifest(model_dir)
    recorded = artifact_digest(model_dir)
    assert verify_manifest(model_dir, recorded)
    (model_dir / MODEL_FILE).write_text('{"learner": {"swapped": true}}')
    write_manifest(model_dir)  # consistent again: the manifest alone cannot tell
    assert verify_manifest(model_dir)
    with pytest.raises(
        ArtifactIntegrityError, match=f"expected {recorded}.*actual {artifact_digest(model_dir)}"
    ):
        verify_manifest(model_dir, recorded)


def test_a_link_in_the_artifact_is_refused(model_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret"
    outside.write_text("x")
    (model_dir / "link").symlink_to(outside)
    with pytest.raises(ArtifactIntegrityError, match="link in the artifact is not a regular file"):
        write_manifest(model_dir)


def test_read_schema(model_dir):
    assert read_schema(model_dir) == {"features": ["a", "b"], "threshold": 0.5}
