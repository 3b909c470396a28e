"""Replay traffic through the stream path (launchable from the UI with a typed config form)."""

import dagster as dg

replay_traffic_job = dg.define_asset_job(
    "replay_traffic",
    selection=dg.AssetSelection.assets("traffic_replay"),
    description="Replay simulated transactions into the input stream and account for every record.",
)
