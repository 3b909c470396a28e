"""The Dagster code location: every asset, check, job, sensor and resource of the product."""

import dagster as dg

from assets import data, deployment, features, model, registry, stream, traffic
from jobs.endpoint import ENDPOINT_JOBS
from jobs.lifecycle import fraud_lifecycle_job, train_candidate_job
from jobs.traffic import replay_traffic_job
from orchestration.resources import default_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([data, features, model, registry, deployment, stream, traffic]),
    asset_checks=dg.load_asset_checks_from_modules([model]),
    jobs=[fraud_lifecycle_job, train_candidate_job, replay_traffic_job, *ENDPOINT_JOBS],
    resources=default_resources(),
)
