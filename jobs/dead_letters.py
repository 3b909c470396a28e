"""DLQ operations: re-send chosen dead letters after a fix, and collect failed batches into the DLQ.

Failed batches (the event-source mapping's on-failure queue) hold only stream positions; their records
stay on the stream for its retention period, so collecting them runs every hour, and by hand whenever
needed. Once collected they are letters like any other: in dead_letter_summary, and re-sent by
redrive_dead_letters.
"""

import dagster as dg

from orchestration.stream.batch_failures import collect_batch_failures
from orchestration.stream.queue_scan import QueueMissing, queue_url
from orchestration.stream.redrive import redrive_dead_letters
from orchestration.wiring.resources import AwsClients, MonitoringTargets
from orchestration.wiring.run_config import BatchFailureRunConfig, RedriveRunConfig
from serving.consumer.claim_check import DeadLetterTarget


@dg.op(description="Re-send the chosen dead letters to the input stream; delete each once it is back.")
def redrive_letters(
    context: dg.OpExecutionContext, config: RedriveRunConfig, aws: AwsClients, targets: MonitoringTargets
) -> dict:
    choice = config.to_library()
    sqs = aws.client("sqs")
    report = redrive_dead_letters(
        sqs,
        aws.client("s3"),
        aws.client("kinesis"),
        queue_url(sqs, targets.dead_letter_queue),
        targets.input_stream,
        choice,
    )
    verb = "would re-send" if report.dry_run else "re-sent"
    count = report.resendable if report.dry_run else report.resent
    context.log.info(f"{verb} {count} of {report.selected} selected letters ({report.letters} on the queue)")
    for sequence, why in report.failed.items():
        context.log.warning(f"letter {sequence} not re-sent: {why}")
    for problem in report.unreadable + report.not_deleted:
        context.log.warning(problem)
    context.add_output_metadata(
        {**report.as_metadata(), "not_resent": dg.MetadataValue.json(report.failed or {})}
    )
    return report.as_metadata()


@dg.op(description="Read failed batches back from the stream and dead-letter their records.")
def collect_failed_batches(
    context: dg.OpExecutionContext, config: BatchFailureRunConfig, aws: AwsClients, targets: MonitoringTargets
) -> dict:
    sqs = aws.client("sqs")
    try:
        failures_url = queue_url(sqs, targets.batch_failure_queue)
        target = DeadLetterTarget(queue_url(sqs, targets.dead_letter_queue), targets.dead_letter_bucket)
    except QueueMissing as missing:  # the hourly schedule runs before any stack exists: nothing to do
        context.log.info(str(missing))
        context.add_output_metadata({"failure_records": 0, "note": str(missing)})
        return {"failure_records": 0, "note": str(missing)}
    report = collect_batch_failures(
        sqs, aws.client("kinesis"), aws.client("s3"), failures_url, target, config.to_library()
    )
    for line in report.batches:
        (context.log.warning if "no longer" in line or "cannot be read" in line else context.log.info)(line)
    for problem in report.unreadable:
        context.log.warning(problem)
    context.add_output_metadata(
        {**report.as_metadata(), "batches": dg.MetadataValue.md("\n".join(f"- {b}" for b in report.batches))}
    )
    return report.as_metadata()


@dg.job(
    name="redrive_dead_letters",
    description="Re-send chosen dead letters (by reason kind, message id or sequence number) to the input "
    "stream with their original payload and partition key; a dry run (the default) only reports.",
)
def redrive_dead_letters_job():
    redrive_letters()


@dg.job(
    name="collect_batch_failures",
    description="Turn the mapping's failed-batch records into dead letters while the stream still holds "
    "the records; records it no longer holds are reported as a NotRetained letter.",
)
def collect_batch_failures_job():
    collect_failed_batches()


collect_batch_failures_schedule = dg.ScheduleDefinition(
    name="collect_batch_failures_hourly",
    job=collect_batch_failures_job,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,  # records leave the stream after its retention
    description="Hourly: failed batches' records are on the stream for 24 h only.",
)
