"""The state database keeps its WAL file bounded even while readers keep passive checkpoints from
finishing (the event-source mapping's pollers read all the time)."""

from __future__ import annotations

import threading
import time

from emulator.state import Database

LIMIT = 1024 * 1024


def _fill(db: Database, megabytes: int) -> None:
    blob = b"x" * 4096
    for _ in range(megabytes):
        with db.transaction() as conn:
            conn.executemany("INSERT INTO t (data) VALUES (?)", [(blob,)] * 256)


def test_wal_is_truncated_back_under_its_limit_despite_busy_readers(tmp_path):
    db = Database(tmp_path / "state.db", wal_limit_bytes=LIMIT)
    db.create_tables("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL);")
    stop = threading.Event()

    def read_all_the_time() -> None:
        while not stop.is_set():
            with db.read() as conn:  # a snapshot held across a short pause, as a scan page does
                conn.execute("SELECT count(*) FROM t").fetchone()
                time.sleep(0.005)

    readers = [threading.Thread(target=read_all_the_time) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        _fill(db, 8)  # 8 MB written: far past the limit
        peak = db.wal_path.stat().st_size
        deadline = time.monotonic() + 15
        while db.wal_path.stat().st_size > LIMIT and time.monotonic() < deadline:
            time.sleep(0.1)
        settled = db.wal_path.stat().st_size
    finally:
        stop.set()
        for reader in readers:
            reader.join()
        db.close()
    assert peak > LIMIT, "the test did not grow the WAL past its limit"
    assert settled <= LIMIT, f"WAL still {settled} bytes, limit {LIMIT}"
