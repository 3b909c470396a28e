"""The local Dagster instance's settings: storage under DAGSTER_HOME, one op per concurrency pool.

The pool limit is what keeps two runs from changing one endpoint at once (see jobs/endpoint.py).
Run as `python -m orchestration.wiring.instance_config` to create DAGSTER_HOME/dagster.yaml if missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.settings import load_settings

INSTANCE_YAML = """\
# Written by rtinfer. Everything is stored under this folder (DAGSTER_HOME).
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    return Path(os.environ.setdefault("DAGSTER_HOME", str(load_settings().home / "dagster"))).resolve()


def ensure_instance_config() -> Path:
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return config


if __name__ == "__main__":
    print(ensure_instance_config())
