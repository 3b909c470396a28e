"""The Dagster code location: every asset, check, job, sensor and resource of the product."""

import warnings

import dagster as dg
from dagster._utils.warnings import BetaWarning

from assets import (
    cost,
    data,
    dead_letters,
    deployment,
    features,
    model,
    monitoring,
    registry,
    stream,
    traffic,
)
from jobs.dead_letters import (
    collect_batch_failures_job,
    collect_batch_failures_schedule,
    redrive_dead_letters_job,
)
from jobs.drift import daily_drift_schedule, drift_check_job
from jobs.endpoint import ENDPOINT_JOBS
from jobs.lifecycle import fraud_lifecycle_job, monitoring_refresh_job, simulate_job, train_candidate_job
from jobs.traffic import replay_traffic_job
from orchestration.wiring.resources import default_resources
from sensors.ab import AB_DECISIONS, ab_test_sensor
from sensors.drift import (
    drift_on_new_traffic,
    retrain_on_critical_drift,
)
from sensors.health import ENDPOINT_HEALTH, endpoint_health_sensor, failed_deployment_rollback

# Dagster itself passes the beta `owners` parameter when it binds resources to a sensor's jobs; no
# sensor here sets owners, and the warning printed on every load of the code location.
warnings.filterwarnings(
    "ignore", message="Parameter `owners` of initializer `SensorDefinition", category=BetaWarning
)

defs = dg.Definitions(
    assets=[
        *dg.load_assets_from_modules(
            [data, features, model, registry, deployment, stream, traffic, monitoring, dead_letters, cost]
        ),
        AB_DECISIONS,
        ENDPOINT_HEALTH,
    ],
    asset_checks=dg.load_asset_checks_from_modules([model]),
    jobs=[
        fraud_lifecycle_job,
        train_candidate_job,
        replay_traffic_job,
        monitoring_refresh_job,
        simulate_job,
        drift_check_job,
        redrive_dead_letters_job,
        collect_batch_failures_job,
        *ENDPOINT_JOBS,
    ],
    sensors=[
        ab_test_sensor,
        endpoint_health_sensor,
        failed_deployment_rollback,
        drift_on_new_traffic,
        retrain_on_critical_drift,
    ],
    schedules=[daily_drift_schedule, collect_batch_failures_schedule],
    resources=default_resources(),
)
