"""The local Dagster instance's dagster.yaml: written under DAGSTER_HOME once, one op per pool."""

import yaml

from orchestration.wiring.instance_config import ensure_instance_config


def test_written_under_rtinfer_home_when_dagster_home_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
    path = ensure_instance_config()
    assert path == (tmp_path / "dagster" / "dagster.yaml").resolve()
    config = yaml.safe_load(path.read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1  # two runs never change an endpoint at once
    assert config["telemetry"]["enabled"] is False


def test_an_existing_config_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    path = ensure_instance_config()
    assert path.read_text() == "telemetry:\n  enabled: true\n"
