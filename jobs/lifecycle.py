"""The main job: simulate, build features, train, gate and deploy the model."""

import dagster as dg

fraud_lifecycle_job = dg.define_asset_job(
    "fraud_lifecycle",
    selection=dg.AssetSelection.groups("data", "features", "model", "registry", "deployment"),
    description="Simulate, build features, train, gate, compile, register and deploy the fraud model.",
)

train_candidate_job = dg.define_asset_job(
    "train_candidate",
    selection=dg.AssetSelection.groups("model", "registry"),
    description="Train, check, compile and register a new version on the stored features, without deploying.",
)

monitoring_refresh_job = dg.define_asset_job(
    "monitoring_refresh",
    selection=dg.AssetSelection.assets(
        "variant_outcomes", "shadow_comparison", "drift_reference", "stream_cost"
    ),
    description="Recompute per-variant outcomes, the shadow comparison, the drift reference and what the "
    "last minutes' predictions cost.",
)

simulate_job = dg.define_asset_job(
    "simulate",
    selection=dg.AssetSelection.groups("data"),
    description="Simulate transactions and labels (use the drift knobs to replay a changed world).",
)
