"""The open formats asset values are stored in, whatever the store: DataFrames as Parquet, dicts and
lists as JSON, bytes (the model tarball) as they are. Never pickle: anything else is refused."""

from __future__ import annotations

import io
import json

import pandas as pd

SUFFIXES = (".parquet", ".json", ".bin")


def encode(name: str, obj) -> tuple[str, bytes]:
    """(suffix, stored bytes) for the value `name` returned."""
    if isinstance(obj, pd.DataFrame):
        buffer = io.BytesIO()
        obj.to_parquet(buffer, index=False)
        return ".parquet", buffer.getvalue()
    if isinstance(obj, dict | list):
        return ".json", json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    if isinstance(obj, bytes | bytearray):
        return ".bin", bytes(obj)
    raise TypeError(
        f"{name} returned {type(obj).__name__}; this IO manager stores pandas DataFrames (Parquet), "
        "dicts and lists (JSON) and bytes, never pickle"
    )


def decode(suffix: str, data: bytes):
    if suffix == ".parquet":
        return pd.read_parquet(io.BytesIO(data))
    if suffix == ".json":
        return json.loads(data)
    if suffix == ".bin":
        return data
    raise ValueError(f"unknown stored format {suffix!r}; expected one of {SUFFIXES}")
