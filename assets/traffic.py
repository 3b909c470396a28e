"""A replay of simulated transactions through the stream path, and the accounting of every record."""

import dagster as dg
import pandas as pd

from orchestration.stream.accounting import ReplayScope, take_baseline, wait_until_accounted
from orchestration.stream.replay import TrafficTargets, run_traffic
from orchestration.wiring.resources import AwsClients
from orchestration.wiring.run_config import TrafficRunConfig

ACCOUNTING_TIMEOUT_S = 120


@dg.asset(
    group_name="traffic",
    description="Seeds online state with the days before the replay, sends transactions at the target rate, "
    "then waits until each is a prediction, a flagged fallback or a DLQ entry.",
)
def traffic_replay(
    context: dg.AssetExecutionContext,
    config: TrafficRunConfig,
    aws: AwsClients,
    transactions: pd.DataFrame,
    transaction_labels: pd.DataFrame,
    stream_stack: dict,
) -> dg.Output[dict]:
    targets = TrafficTargets(
        stream_stack["input_stream"], stream_stack["feature_state_table"], stream_stack["labels_table"]
    )
    s3, sqs = aws.client("s3"), aws.client("sqs")
    audit_bucket, dlq_url = stream_stack["audit_bucket"], stream_stack["dead_letter_queue_url"]
    before = take_baseline(sqs, dlq_url)  # earlier replays' records are not this one's
    report = run_traffic(aws.client, targets, transactions, transaction_labels, config.to_library())
    context.log.info(f"sent {report.sent:,} records ({report.malformed} malformed) at {report.rate:,.0f}/s")
    account = wait_until_accounted(
        s3,
        sqs,
        audit_bucket,
        dlq_url,
        report.sent,
        timeout_s=ACCOUNTING_TIMEOUT_S,
        scope=ReplayScope(before, frozenset(report.request_ids)),
    )
    summary = {
        "sent": report.sent,
        "malformed_sent": report.malformed,
        "send_rate_per_s": report.rate,
        "predictions": account.predictions,
        "fallbacks": account.fallbacks,
        "dead_lettered": account.dead_lettered,
        "latency_p50_ms": account.latency(50),
        "latency_p99_ms": account.latency(99),
        "variants": dict(account.variants),
        "frauds_fed": report.frauds_fed,
    }
    if account.accounted < report.sent:
        raise dg.Failure(
            f"only {account.accounted} of {report.sent} records accounted for after {ACCOUNTING_TIMEOUT_S} s",
            metadata={k: v for k, v in summary.items() if k != "variants"},
        )
    metadata = {k: v for k, v in summary.items() if k != "variants"}
    return dg.Output(summary, metadata={**metadata, "variants": dg.MetadataValue.json(summary["variants"])})
