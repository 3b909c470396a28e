"""Simulated transactions and their (delayed) labels."""

import dagster as dg

from orchestration.data.simulation import simulate
from orchestration.wiring.run_config import SimulationRunConfig


@dg.multi_asset(
    outs={
        "transactions": dg.AssetOut(description="Raw transaction events, as the stream carries them."),
        "transaction_labels": dg.AssetOut(
            description="Fraud labels with their scenario and the time each becomes available."
        ),
    },
    group_name="data",
)
def simulated_transactions(context: dg.AssetExecutionContext, config: SimulationRunConfig):
    events, labels = simulate(config.to_library())
    fraud = labels["is_fraud"]
    context.log.info(f"simulated {len(events):,} transactions, fraud rate {fraud.mean():.4f}")
    scenario_counts = labels.loc[fraud, "scenario"].value_counts().to_dict()
    yield dg.Output(
        events,
        output_name="transactions",
        metadata={
            "rows": len(events),
            "customers": int(events["customer_id"].nunique()),
            "terminals": int(events["terminal_id"].nunique()),
            "first": str(events["timestamp"].min()),
            "last": str(events["timestamp"].max()),
        },
    )
    yield dg.Output(
        labels,
        output_name="transaction_labels",
        metadata={
            "fraud_rate": float(fraud.mean()),
            **{f"frauds_{k}": int(v) for k, v in scenario_counts.items()},
        },
    )
