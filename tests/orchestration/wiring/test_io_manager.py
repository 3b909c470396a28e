"""Asset storage in open formats, through Dagster's own materialization: Parquet and JSON round trips,
partitions and op outputs in their own places, and a clear error for anything else (never pickle)."""

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


def test_a_partition_is_stored_under_its_key(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    dg.materialize([daily], partition_key="2026-11-25", resources={"io_manager": manager})
    assert (tmp_path / "daily" / "2026-11-25.json").exists()


def test_a_value_it_cannot_store_gets_a_clear_error(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    with pytest.raises(
        TypeError, match="a_set returned set; this IO manager stores pandas DataFrames and dicts"
    ):
        dg.materialize([a_set], resources={"io_manager": manager})
    assert list(tmp_path.rglob("*.*")) == []  # nothing half-written, nothing pickled


def test_loading_what_was_never_stored_says_to_materialize_it(tmp_path):
    manager = OpenFormatIOManager(base_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no stored value for asset table .* materialize it first"):
        dg.materialize(
            [uses_both, table.to_source_asset(), record],
            resources={"io_manager": manager},
            selection=[uses_both, record],
        )
