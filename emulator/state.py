"""The emulator's one SQLite database in WAL mode: one write connection behind a lock, reads in parallel.

Writes go through `transaction()`: one connection, serialised by a lock, so writers queue in Python
instead of sleeping in SQLite's busy handler and never see "database is locked". Reads (`query`,
`read`) use a pooled read connection: under WAL a reader sees the last committed state and
neither waits for the writer nor makes it wait. A thread inside a transaction reads through the
write connection, so it sees its own uncommitted changes as before.

The WAL file is kept bounded: a passive checkpoint every second copies committed pages into the
database without waiting for anyone, and once the WAL file has grown past `wal_limit_bytes` (because
readers kept a passive checkpoint from finishing) a TRUNCATE checkpoint waits briefly for the readers
and empties it. `journal_size_limit` trims the file whenever SQLite restarts the log.

Every sqlite3 step releases and retakes the GIL, and under load retaking it can cost a switch
interval; callers on hot paths therefore keep the statements run while holding the write lock few
(one multi-row statement rather than one per row).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000  # a reader that meets a checkpoint or recovery waits instead of failing
CHECKPOINT_EVERY_S = 1.0
WAL_LIMIT_BYTES = 16 * 1024 * 1024
TRUNCATE_WAIT_MS = 500  # how long a TRUNCATE checkpoint waits for readers before the next round retries


class Database:
    def __init__(self, path: Path, wal_limit_bytes: int = WAL_LIMIT_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._wal_limit = wal_limit_bytes
        self._conn = self._connect()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(f"PRAGMA journal_size_limit={int(wal_limit_bytes)}")
        # Checkpoints (copying the WAL into the database, with fsyncs) run in a thread of their own
        # rather than inside whichever commit crosses the WAL threshold while holding the write lock.
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._lock = threading.RLock()
        self._local = threading.local()  # per thread: how deep in a transaction it is
        self._idle: list[sqlite3.Connection] = []  # read connections not in use
        self._readers_lock = threading.Lock()
        self._closed = False
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, daemon=True, name="db-checkpoint")
        self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def wal_path(self) -> Path:
        return self._path.with_name(self._path.name + "-wal")

    def _wal_bytes(self) -> int:
        try:
            return self.wal_path.stat().st_size
        except OSError:
            return 0

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if self._wal_bytes() > self._wal_limit:
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                except sqlite3.Error:
                    continue  # busy or closing: the next round catches up
        finally:
            conn.close()

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """The write connection inside a transaction of this thread, otherwise an idle read connection."""
        if getattr(self._local, "depth", 0):
            yield self._conn
            return
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            with self._readers_lock:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._local.depth = getattr(self._local, "depth", 0) + 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._local.depth -= 1
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads, without taking the write lock."""
        with self._reader() as conn:
            if conn is self._conn:
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def create_tables(self, schema: str) -> None:
        with self._lock:
            self._conn.executescript(schema)

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._reader() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._stop_checkpoints.set()
        self._checkpointer.join()
        with self._lock, self._readers_lock:
            self._closed = True
            for conn in self._idle:
                conn.close()
            self._idle.clear()
            self._conn.close()
