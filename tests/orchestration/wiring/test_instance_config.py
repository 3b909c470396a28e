"""The local Dagster instance's dagster.yaml: written under DAGSTER_HOME, one op per pool, compute logs in
the bucket through dagster-aws (the emulator's S3 locally), SQLite or PostgreSQL storage; a file someone
else wrote is kept."""

import pytest
import yaml

from orchestration.wiring.instance_config import ensure_instance_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("RTINFER_ENV", "RTINFER_DAGSTER_STORAGE", "RTINFER_EMULATOR_PORT", "RTINFER_BUCKET"):
        monkeypatch.delenv(name, raising=False)


def test_written_under_rtinfer_home_when_dagster_home_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", "4999")
    path = ensure_instance_config()
    assert path == (tmp_path / "dagster" / "dagster.yaml").resolve()
    config = yaml.safe_load(path.read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1  # two runs never change an endpoint at once
    assert config["telemetry"]["enabled"] is False
    logs = config["compute_logs"]
    assert (logs["module"], logs["class"]) == ("dagster_aws.s3.compute_log_manager", "S3ComputeLogManager")
    assert logs["config"]["endpoint_url"] == "http://127.0.0.1:4999"
    assert logs["config"]["bucket"] == "rtinfer-artifacts"
    assert logs["config"]["local_dir"] == str(path.parent / "compute_logs")  # staged beside the instance
    assert "storage" not in config  # SQLite under DAGSTER_HOME


def test_postgres_storage_reads_its_url_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("RTINFER_DAGSTER_STORAGE", "postgres")
    config = yaml.safe_load(ensure_instance_config().read_text())
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "RTINFER_DAGSTER_PG_URL"}}}


def test_an_unknown_storage_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("RTINFER_DAGSTER_STORAGE", "mysql")
    with pytest.raises(ValueError, match=r"RTINFER_DAGSTER_STORAGE must be one of .*'mysql'"):
        ensure_instance_config()


def test_its_own_file_follows_the_environment_and_another_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "ours"))
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", "5001")
    path = ensure_instance_config()
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", "5002")
    assert "127.0.0.1:5002" in ensure_instance_config().read_text()  # rewritten: it is ours
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    path = ensure_instance_config()
    assert path.read_text() == "telemetry:\n  enabled: true\n"
