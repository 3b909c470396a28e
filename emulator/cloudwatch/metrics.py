"""Metric datapoints in SQLite with bounded retention, and the queries CloudWatch answers over them."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from emulator.cloudwatch.statistics import Aggregate
from emulator.state import Database

RETENTION_S = 24 * 3600  # local history only needs to cover a session, not AWS's 15 months
MAX_SAMPLES_PER_DATAPOINT = 1000  # enough for a stable p99 without unbounded rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cw_datapoints (
    namespace TEXT NOT NULL, name TEXT NOT NULL, dims TEXT NOT NULL, ts REAL NOT NULL, unit TEXT NOT NULL,
    count REAL NOT NULL, total REAL NOT NULL, minimum REAL NOT NULL, maximum REAL NOT NULL, samples TEXT
);
CREATE INDEX IF NOT EXISTS cw_datapoints_metric ON cw_datapoints (namespace, name, dims, ts);
"""

Dimensions = tuple[
    tuple[str, str], ...
]  # (name, value) pairs, sorted: order is no part of a metric's identity


@dataclass(frozen=True)
class MetricId:
    namespace: str
    name: str
    dimensions: Dimensions


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    name: str
    dimensions: Dimensions
    timestamp: float
    unit: str
    count: float
    total: float
    minimum: float
    maximum: float
    samples: tuple[float, ...] = ()


class MetricStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.create_tables(_SCHEMA)

    def put(self, datapoints: Iterable[Datapoint]) -> None:
        rows = [
            (
                p.namespace,
                p.name,
                json.dumps(p.dimensions),
                p.timestamp,
                p.unit,
                p.count,
                p.total,
                p.minimum,
                p.maximum,
                json.dumps(p.samples[:MAX_SAMPLES_PER_DATAPOINT]) if p.samples else None,
            )
            for p in datapoints
        ]
        if rows:
            with self._db.transaction() as conn:
                conn.executemany("INSERT INTO cw_datapoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def prune(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM cw_datapoints WHERE ts < ?", (time.time() - RETENTION_S,))

    def buckets(
        self,
        metric: MetricId,
        start: float,
        end: float,
        period: float,
        unit: str | None = None,
    ) -> dict[float, tuple[Aggregate, str]]:
        """Datapoints in [start, end) in `period`-long buckets from `start`: bucket start -> (agg, unit)."""
        sql = (
            "SELECT ts, unit, count, total, minimum, maximum, samples FROM cw_datapoints "
            "WHERE namespace=? AND name=? AND dims=? AND ts>=? AND ts<?"
        )
        params: tuple = (metric.namespace, metric.name, json.dumps(metric.dimensions), start, end)
        if unit:
            sql += " AND unit=?"
            params += (unit,)
        out: dict[float, tuple[Aggregate, str]] = {}
        for row in self._db.query(sql, params):
            bucket = start + math.floor((row["ts"] - start) / period) * period
            aggregate, _ = out.setdefault(bucket, (Aggregate(), row["unit"]))
            samples = json.loads(row["samples"]) if row["samples"] else []
            aggregate.add(row["count"], row["total"], row["minimum"], row["maximum"], samples)
        return out

    def list_metrics(self, namespace: str | None, name: str | None) -> list[MetricId]:
        sql, params = "SELECT DISTINCT namespace, name, dims FROM cw_datapoints WHERE 1=1", ()
        if namespace:
            sql, params = sql + " AND namespace=?", params + (namespace,)
        if name:
            sql, params = sql + " AND name=?", params + (name,)
        rows = self._db.query(sql + " ORDER BY namespace, name, dims", params)
        return [
            MetricId(r["namespace"], r["name"], tuple((n, v) for n, v in json.loads(r["dims"]))) for r in rows
        ]
