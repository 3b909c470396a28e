"""The local Dagster instance's dagster.yaml, written under DAGSTER_HOME.

- Concurrency: one op per pool, which keeps two runs from changing one endpoint at once (jobs/endpoint.py).
- Compute logs (each step's stdout/stderr) go to S3 through dagster-aws's S3 compute log manager: the
  emulator's S3 locally, the bucket's dagster/compute-logs/ prefix.
- Storage (runs, events, schedules) is SQLite under DAGSTER_HOME, or PostgreSQL through
  dagster-postgres with RTINFER_DAGSTER_STORAGE=postgres (the server named by RTINFER_DAGSTER_PG_URL,
  `postgresql+psycopg2://user:password@host:port/db`, read by Dagster when it loads the instance, so
  the password never lands in the file; psycopg2 named because SQLAlchemy 2.1 defaults to psycopg 3).

The production instance (PostgreSQL, the ECS run launcher, S3 compute logs) is infra/dagster/dagster.yaml.
Run as `python -m orchestration.wiring.instance_config` to (re)write the file and create the bucket.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from orchestration.aws import LOCAL_CREDENTIALS, aws_client, connection_kwargs
from orchestration.buckets import ensure_bucket
from orchestration.settings import Settings, load_settings

MARKER = "# Written by rtinfer"
HEADER = f"{MARKER} (orchestration/wiring/instance_config.py); rewritten while this line is first.\n"
COMPUTE_LOG_PREFIX = "dagster/compute-logs"
PG_URL_VARIABLE = "RTINFER_DAGSTER_PG_URL"
STORAGES = ("sqlite", "postgres")


def dagster_home() -> Path:
    return Path(os.environ.setdefault("DAGSTER_HOME", str(load_settings().home / "dagster"))).resolve()


def dagster_storage() -> str:
    storage = os.environ.get("RTINFER_DAGSTER_STORAGE", "sqlite").strip().lower()
    if storage not in STORAGES:
        raise ValueError(f"RTINFER_DAGSTER_STORAGE must be one of {STORAGES}, got {storage!r}")
    return storage


def compute_logs_config(settings: Settings, staging_dir: Path) -> dict:
    """Logs are written to `staging_dir` while a run goes, then uploaded (empty ones too, so every run
    has its logs in the bucket) and removed."""
    config = {
        "bucket": settings.bucket,
        "prefix": COMPUTE_LOG_PREFIX,
        "region": settings.region,
        "local_dir": str(staging_dir),
        "skip_empty_files": False,
        "upload_interval": 30,  # a running step's logs show up in the UI within 30 s
    }
    endpoint = connection_kwargs(settings).get("endpoint_url")
    if endpoint:
        config["endpoint_url"] = endpoint
    return {"module": "dagster_aws.s3.compute_log_manager", "class": "S3ComputeLogManager", "config": config}


def instance_config(settings: Settings, home: Path, storage: str = "sqlite") -> dict:
    """The instance whose DAGSTER_HOME is `home`."""
    config: dict = {
        "concurrency": {"pools": {"default_limit": 1}},
        "compute_logs": compute_logs_config(settings, home / "compute_logs"),
        "telemetry": {"enabled": False},
    }
    if storage == "postgres":
        config["storage"] = {"postgres": {"postgres_url": {"env": PG_URL_VARIABLE}}}
    return config


def provide_local_credentials(settings: Settings) -> None:
    """The S3 compute log manager takes its credentials from boto3's chain: locally, give this process
    (and what it starts) the emulator's, unless credentials are set already."""
    if settings.is_local:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])


def ensure_instance_config() -> Path:
    """DAGSTER_HOME/dagster.yaml for this environment; a file someone else wrote is kept as it is."""
    settings = load_settings()
    provide_local_credentials(settings)
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if path.exists() and not path.read_text().startswith(MARKER):
        return path
    text = HEADER + yaml.safe_dump(instance_config(settings, home, dagster_storage()), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def ensure_log_bucket() -> None:
    """The bucket compute logs go to (needs the emulator running, locally)."""
    settings = load_settings()
    ensure_bucket(aws_client("s3", settings), settings.bucket, settings.region)


if __name__ == "__main__":
    print(ensure_instance_config())
    ensure_log_bucket()
