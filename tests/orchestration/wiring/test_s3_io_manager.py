"""Asset values in S3 through dagster-aws's S3 resource, against the emulator's S3 and through Dagster's
own materialization: open formats, read back by later runs, partitions and op outputs in their own
places, the bucket created when missing, and a clear error for a value never stored."""

import io

import dagster as dg
import pandas as pd
import pytest

from orchestration.wiring.resources import s3_resource
from orchestration.wiring.s3_io_manager import S3OpenFormatIOManager


@dg.asset
def table() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})


@dg.asset
def tarball() -> bytes:
    return b"\x1f\x8b\x08 model bytes"


@dg.asset
def summary(table: pd.DataFrame, tarball: bytes) -> dict:
    return {"rows": len(table), "size": len(tarball)}


DAYS = dg.StaticPartitionsDefinition(["2026-11-25"])


@dg.asset(partitions_def=DAYS)
def daily() -> list:
    return ["ok"]


@dg.op
def emit() -> dict:
    return {"from": "an op"}


@dg.op
def take(value: dict) -> dict:
    return {**value, "taken": True}


@dg.job
def op_job():
    take(emit())


def manager(emulator, bucket: str) -> S3OpenFormatIOManager:
    return S3OpenFormatIOManager(s3=s3_resource(emulator.settings), bucket=bucket, prefix="assets")


def test_values_round_trip_through_s3_across_runs(emulator):
    io_manager = manager(emulator, "s3-io-fresh")  # no such bucket yet: created on the first store
    with dg.instance_for_test() as instance:
        dg.materialize([table, tarball], resources={"io_manager": io_manager}, instance=instance)
        # a later run (as another process or container would) reads what the first stored
        later = dg.materialize(
            [summary, table.to_source_asset(), tarball.to_source_asset()],
            resources={"io_manager": io_manager},
            instance=instance,
            selection=[summary],
        )
    assert later.output_for_node("summary") == {"rows": 2, "size": len(tarball())}
    s3 = emulator.client("s3")
    stored = s3.get_object(Bucket="s3-io-fresh", Key="assets/table.parquet")["Body"].read()
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(stored)), table())
    assert s3.get_object(Bucket="s3-io-fresh", Key="assets/tarball.bin")["Body"].read() == tarball()
    metadata = later.asset_materializations_for_node("summary")[0].metadata
    assert metadata["path"].value == "s3://s3-io-fresh/assets/summary.json"


def test_partitions_and_op_outputs_have_their_own_keys(emulator):
    io_manager = manager(emulator, "s3-io-keys")
    dg.materialize([daily], partition_key="2026-11-25", resources={"io_manager": io_manager})
    result = op_job.execute_in_process(resources={"io_manager": io_manager})
    assert result.output_for_node("take") == {"from": "an op", "taken": True}
    listed = emulator.client("s3").list_objects_v2(Bucket="s3-io-keys")["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert keys[0] == "assets/daily/2026-11-25.json"
    assert keys[1:] == sorted(f"assets/runs/{result.run_id}/{step}/result.json" for step in ("emit", "take"))


def test_a_value_never_stored_says_where_it_was_looked_for(emulator):
    io_manager = manager(emulator, "s3-io-empty")
    with pytest.raises(
        FileNotFoundError, match=r"no stored value for asset table at s3://s3-io-empty/assets/table"
    ):
        dg.materialize(
            [summary, table.to_source_asset(), tarball],
            resources={"io_manager": io_manager},
            selection=[summary, tarball],
        )
