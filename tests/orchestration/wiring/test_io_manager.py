"""Asset storage in open formats on local disk, through Dagster's own materialization: Parquet, JSON and
bytes round trips, partitions in their own places, and a clear error for anything else (never pickle)."""

import dagster as dg
import pandas as pd
import pytest

from orchestration.wiring.io_manager import OpenFormatIOManager


@dg.asset
def table() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})


@dg.asset
def record() -> dict:
    return {"n": 2, "nested": {"k": [1, 2]}}


@dg.asset
def uses_both(table: pd.DataFrame, record: dict) -> dict:
    return {"rows": len(table), "n": record["n"], "b": table["b"].tolist()}


@dg.asset
def tarball() -> bytes:
    return b"\x1f\x8b not really gzip"


@dg.asset
def listing() -> list:
    return [1, "two"]


@dg.asset
def uses_bytes(tarball: bytes, listing: list) -> dict:
    return {"size": len(tarball), "head": tarball[:2].hex(), "listing": listing}


DAYS = dg.StaticPartitionsDefinition(["2026-11-25"])


@dg.asset(partitions_def=DAYS)
def daily() -> dict:
    return {"day": "ok"}


@dg.asset
def a_set() -> set:
    return {1, 2}


def test_frames_and_dicts_round_trip_in_open_formats(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    result = dg.materialize([table, record, uses_both], resources={"io_manager": manager})
    assert result.output_for_node("uses_both") == {"rows": 2, "n": 2, "b": ["x", "y"]}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "table.parquet"), table())
    assert (tmp_path / "record.json").read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json", "table.parquet", "uses_both.json"]


def test_bytes_and_lists_round_trip(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    result = dg.materialize([tarball, listing, uses_bytes], resources={"io_manager": manager})
    expected = {"size": len(tarball()), "head": "1f8b", "listing": [1, "two"]}
    assert result.output_for_node("uses_bytes") == expected
    assert (tmp_path / "tarball.bin").read_bytes() == tarball()


def test_a_partition_is_stored_under_its_key(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    dg.materialize([daily], partition_key="2026-11-25", resources={"io_manager": manager})
    assert (tmp_path / "daily" / "2026-11-25.json").exists()


def test_a_value_it_cannot_store_gets_a_clear_error(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    with pytest.raises(
        TypeError, match=r"a_set returned set; this IO manager stores pandas DataFrames \(Parquet\), dicts"
    ):
        dg.materialize([a_set], resources={"io_manager": manager})
    assert list(tmp_path.rglob("*.*")) == []  # nothing half-written, nothing pickled


def test_loading_what_was_never_stored_says_to_materialize_it(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"no stored value for asset table at .*table\.parquet\|"):
        dg.materialize(
            [uses_both, table.to_source_asset(), record],
            resources={"io_manager": manager},
            selection=[uses_both, record],
        )
