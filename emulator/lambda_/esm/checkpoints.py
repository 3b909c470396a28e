"""Per mapping and shard, the last sequence number fully processed: where polling resumes after a restart.

An empty string means "from the oldest retained record" (nothing processed yet, TRIM_HORIZON).
"""

from __future__ import annotations

from emulator.state import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_esm_checkpoints (
    uuid TEXT NOT NULL, shard_id TEXT NOT NULL, sequence TEXT NOT NULL, PRIMARY KEY (uuid, shard_id)
);
"""


class Checkpoints:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.create_tables(_SCHEMA)

    def get(self, uuid: str, shard_id: str) -> str | None:
        rows = self._db.query(
            "SELECT sequence FROM lambda_esm_checkpoints WHERE uuid=? AND shard_id=?", (uuid, shard_id)
        )
        return rows[0]["sequence"] if rows else None

    def all(self, uuid: str) -> dict[str, str]:
        rows = self._db.query("SELECT shard_id, sequence FROM lambda_esm_checkpoints WHERE uuid=?", (uuid,))
        return {row["shard_id"]: row["sequence"] for row in rows}

    def put(self, uuid: str, shard_id: str, sequence: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO lambda_esm_checkpoints VALUES (?, ?, ?)", (uuid, shard_id, sequence)
            )

    def delete(self, uuid: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM lambda_esm_checkpoints WHERE uuid=?", (uuid,))
