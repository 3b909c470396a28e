"""Asset storage in open formats: DataFrames as Parquet, small records as JSON. Never pickle."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd


class OpenFormatIOManager(dg.ConfigurableIOManager):
    """Stores each asset under base_dir/<asset key path>.{parquet,json}; an op's output (no asset) under
    base_dir/runs/<run id>/<step>/<output>, so a run's results stay with the run."""

    base_dir: str

    def _stem(self, context) -> Path:
        if not context.has_asset_key:
            output = context if isinstance(context, dg.OutputContext) else context.upstream_output
            return Path(self.base_dir, "runs", output.run_id, output.step_key, output.name)
        key_path = context.asset_key.path
        if context.has_asset_partitions:
            key_path = [*key_path, context.asset_partition_key]
        return Path(self.base_dir).joinpath(*key_path)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        stem = self._stem(context)
        stem.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, pd.DataFrame):
            path = stem.with_suffix(".parquet")
            obj.to_parquet(path, index=False)
        elif isinstance(obj, dict):
            path = stem.with_suffix(".json")
            path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        else:
            raise TypeError(
                f"{stem.name} returned {type(obj).__name__}; "
                "this IO manager stores pandas DataFrames and dicts only"
            )
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext):
        stem = self._stem(context)
        for suffix, reader in ((".parquet", pd.read_parquet), (".json", lambda p: json.loads(p.read_text()))):
            path = stem.with_suffix(suffix)
            if path.exists():
                return reader(path)
        raise FileNotFoundError(
            f"no stored value for asset {context.asset_key.to_user_string()} at {stem}.parquet|.json; "
            "materialize it first"
        )
