"""The main job: simulate, build features, train and gate the model (later stages extend it)."""

import dagster as dg

fraud_lifecycle_job = dg.define_asset_job(
    "fraud_lifecycle",
    selection=dg.AssetSelection.groups("data", "features", "model"),
    description="Simulate transactions, build features, train, evaluate and check the fraud model.",
)
