"""The main job: simulate, build features, train, gate and deploy the model."""

import dagster as dg

fraud_lifecycle_job = dg.define_asset_job(
    "fraud_lifecycle",
    selection=dg.AssetSelection.groups("data", "features", "model", "deployment"),
    description="Simulate transactions, build features, train, evaluate, gate and deploy the fraud model.",
)
