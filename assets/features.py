"""The feature table, computed offline with the same definitions the consumer uses online."""

import dagster as dg
import pandas as pd

from orchestration.data.offline_features import compute_offline_features
from serving.features import FEATURE_NAMES


@dg.asset(group_name="features", description="One row of model features per transaction, leakage-free.")
def transaction_features(
    context: dg.AssetExecutionContext, transactions: pd.DataFrame, transaction_labels: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    table = compute_offline_features(transactions, transaction_labels)
    context.log.info(f"computed {len(FEATURE_NAMES)} features for {len(table):,} transactions")
    return dg.Output(table, metadata={"rows": len(table), "features": len(FEATURE_NAMES)})
