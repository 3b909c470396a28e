"""The code location's image (Dockerfile): clean under hadolint (installed from the registry as a dev
dependency), built from the committed lock with hashes, the production instance config as DAGSTER_HOME,
every package the code location imports copied in, and not running as root."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=120
    )


def test_hadolint_finds_nothing():
    done = _lint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install dagster\n")
    done = _lint(bad)
    assert done.returncode != 0 and "DL3007" in done.stdout  # `latest` is not a pinned tag


def test_dependencies_come_from_the_lock_with_hashes():
    text = DOCKERFILE.read_text()
    assert "--require-hashes -r requirements-bootstrap.txt" in text
    assert "uv pip sync --system --require-hashes --compile-bytecode requirements.lock" in text
    assert not re.search(r"pip install (?!--require-hashes)", text)  # nothing installed unpinned


def test_the_image_holds_the_code_location_and_the_production_instance():
    text = DOCKERFILE.read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", text, flags=re.MULTILINE))
    definitions = (ROOT / "orchestration" / "definitions.py").read_text()
    imported = set(re.findall(r"^(?:from|import) (\w+)", definitions, flags=re.MULTILINE))
    imported -= {"dagster", *sys.stdlib_module_names}  # what the image installs; the rest is ours
    assert imported <= copied, imported - copied
    assert "serving" in copied  # packed into every model artifact (code/)
    assert "COPY infra/dagster/dagster.yaml /opt/dagster/home/dagster.yaml" in text
    assert "DAGSTER_HOME=/opt/dagster/home" in text and "RTINFER_ENV=aws" in text
    users = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
