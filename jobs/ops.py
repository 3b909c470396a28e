"""The ops that run configs address, exported so that callers (CLI, demo, sensors) never spell a name."""

from assets.data import simulated_transactions
from assets.deployment import fraud_endpoint
from assets.features import transaction_features
from assets.model import fraud_model
from assets.monitoring import drift_report, shadow_comparison
from assets.registry import registered_model
from assets.traffic import traffic_replay
from jobs.endpoint import (
    decide_approval,
    deploy_version,
    promote_candidate,
    roll_back,
    shadow_version,
    split_traffic,
)

SIMULATE_OP = simulated_transactions.op.name
FEATURES_OP = transaction_features.op.name
TRAIN_OP = fraud_model.op.name
TRAIN_RECORD = "fraud_model"  # the training op's output holding the model's record (beside the tarball)
REGISTER_OP = registered_model.op.name
ENDPOINT_OP = fraud_endpoint.op.name
SHADOW_COMPARISON_OP = shadow_comparison.op.name
DRIFT_REPORT_OP = drift_report.op.name
REPLAY_OP = traffic_replay.op.name
DEPLOY_OP = deploy_version.name
SHADOW_OP = shadow_version.name
SPLIT_OP = split_traffic.name
PROMOTE_OP = promote_candidate.name
ROLLBACK_OP = roll_back.name
APPROVE_OP = decide_approval.name


def op_config(op: str, config: dict) -> dict:
    """The run config that hands `config` to the op named `op`."""
    return {"ops": {op: {"config": config}}}
