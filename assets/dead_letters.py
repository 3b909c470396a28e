"""What the consumer's dead-letter queue holds, by kind of reason (read without consuming it)."""

import dagster as dg

from orchestration.stream.accounting import queue_depth
from orchestration.stream.dlq_summary import read_dead_letter_queue
from orchestration.stream.queue_scan import queue_url
from orchestration.wiring.resources import AwsClients, MonitoringTargets


@dg.asset(
    group_name="monitoring",
    description="The consumer's DLQ by reason kind: letters (one per stream position), messages, "
    "claim-checked bodies, first and last seen, sample payloads. Messages are read and made visible "
    "again, never consumed. Launch redrive_dead_letters with a reason kind from here after a fix.",
)
def dead_letter_summary(
    context: dg.AssetExecutionContext, aws: AwsClients, targets: MonitoringTargets
) -> dg.Output[dict]:
    sqs, s3 = aws.client("sqs"), aws.client("s3")
    summary = read_dead_letter_queue(sqs, s3, queue_url(sqs, targets.dead_letter_queue))
    waiting = queue_depth(sqs, queue_url(sqs, targets.batch_failure_queue))
    context.log.info(f"{summary.letters} letters in {summary.messages} messages, {len(summary.rows)} kinds")
    for problem in summary.unreadable:
        context.log.warning(problem)
    if waiting:
        context.log.warning(
            f"{waiting} failed batches wait in {targets.batch_failure_queue}: run collect_batch_failures "
            "before the stream's retention drops their records"
        )
    record = {
        "letters": summary.letters,
        "messages": summary.messages,
        "by_kind": {row.kind: row.letters for row in summary.rows},
    }
    return dg.Output(
        record,
        metadata={
            "letters": summary.letters,
            "messages": summary.messages,
            "duplicate_messages": summary.duplicates,
            "claim_checked": summary.claim_checked,
            "unreadable": len(summary.unreadable),
            "truncated": summary.truncated,
            "batch_failures_waiting": waiting,
            "by_reason": dg.MetadataValue.md(summary.markdown()),
            "letters_by_kind": dg.MetadataValue.json(record["by_kind"]),
        },
    )
