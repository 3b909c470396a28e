"""Asset storage in open formats on local disk (orchestration.wiring.value_formats). Never pickle.

The S3 store (orchestration.wiring.s3_io_manager) is the default; this one is RTINFER_ASSET_STORAGE=local.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.wiring.value_formats import SUFFIXES, decode, encode


def stored_key_path(context) -> list[str]:
    """Where a value lives below the store's root: an asset under its key path (and partition); an op's
    output (no asset) under runs/<run id>/<step>/<output>, so a run's results stay with the run."""
    if not context.has_asset_key:
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        return ["runs", output.run_id, output.step_key, output.name]
    key_path = list(context.asset_key.path)
    if context.has_asset_partitions:
        key_path.append(context.asset_partition_key)
    return key_path


def never_stored(context, where: str) -> FileNotFoundError:
    name = context.asset_key.to_user_string() if context.has_asset_key else "/".join(stored_key_path(context))
    return FileNotFoundError(f"no stored value for asset {name} at {where}; materialize it first")


class OpenFormatIOManager(dg.ConfigurableIOManager):
    """Stores each value under base_dir/<stored key path>.{parquet,json,bin}."""

    base_dir: str

    def _stem(self, context) -> Path:
        return Path(self.base_dir).joinpath(*stored_key_path(context))

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        stem = self._stem(context)
        suffix, data = encode(stem.name, obj)
        path = stem.with_suffix(suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext):
        stem = self._stem(context)
        for suffix in SUFFIXES:
            path = stem.with_suffix(suffix)
            if path.exists():
                return decode(suffix, path.read_bytes())
        raise never_stored(context, f"{stem}.parquet|.json|.bin")
