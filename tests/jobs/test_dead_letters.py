"""The DLQ asset and jobs as Dagster runs them, against the session emulator: the summary materializes
with its table, a failed batch is collected, and a redrive re-sends what its run config chose."""

import uuid

import dagster as dg
import pytest

from assets.dead_letters import dead_letter_summary
from jobs.dead_letters import collect_batch_failures_job, redrive_dead_letters_job
from orchestration.definitions import defs
from orchestration.stream.stack import ensure_bucket, ensure_queue, ensure_stream
from orchestration.wiring.resources import AwsClients, MonitoringTargets
from serving.consumer.claim_check import DeadLetterTarget
from serving.consumer.sinks import send_dead_letters


@pytest.fixture
def targets(emulator, monkeypatch, tmp_path) -> MonitoringTargets:
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
    name = f"j{uuid.uuid4().hex[:8]}"
    ensure_stream(emulator.client("kinesis"), f"{name}-in", 1)
    for queue in (f"{name}-dlq", f"{name}-batch-failures"):
        ensure_queue(emulator.client("sqs"), queue)
    ensure_bucket(emulator.client("s3"), f"{name}-dead-letters")
    return MonitoringTargets(
        input_stream=f"{name}-in",
        dead_letter_queue=f"{name}-dlq",
        dead_letter_bucket=f"{name}-dead-letters",
        batch_failure_queue=f"{name}-batch-failures",
    )


def _letter(i: int, reason: str, payload: str) -> dict:
    return {
        "reason": reason,
        "payload": payload,
        "shard_id": "shardId-000000000000",
        "sequence_number": f"{i:056d}",
        "partition_key": f"C{i}",
    }


def test_summary_collect_and_redrive_run_in_dagster(emulator, targets):
    sqs, s3 = emulator.client("sqs"), emulator.client("s3")
    dlq_url = sqs.get_queue_url(QueueName=targets.dead_letter_queue)["QueueUrl"]
    letters = [
        _letter(1, "not JSON: Expecting value: line 1 column 1 (char 0)", "{oops"),
        _letter(2, "schema: field 'amount': must be a number (got 'lots')", '{"amount": "lots"}'),
        _letter(3, "not JSON: Expecting value: line 1 column 1 (char 0)", "<" + "b" * 300_000),
    ]
    assert send_dead_letters(sqs, s3, DeadLetterTarget(dlq_url, targets.dead_letter_bucket), letters) == set()
    resources = {"aws": AwsClients(), "targets": targets}

    with dg.instance_for_test() as instance:
        materialized = dg.materialize([dead_letter_summary], resources=resources, instance=instance)
        assert materialized.success
        metadata = materialized.asset_materializations_for_node("dead_letter_summary")[0].metadata
        assert (metadata["letters"].value, metadata["claim_checked"].value) == (3, 1)
        assert "| not JSON | 2 | 2 | 1 |" in metadata["by_reason"].value
        assert metadata["batch_failures_waiting"].value == 0

        collected = collect_batch_failures_job.execute_in_process(resources=resources, instance=instance)
        assert (
            collected.success and collected.output_for_node("collect_failed_batches")["failure_records"] == 0
        )

        dry = redrive_dead_letters_job.execute_in_process(
            run_config={"ops": {"redrive_letters": {"config": {"reason_kinds": ["not JSON"]}}}},
            resources=resources,
            instance=instance,
        )
        assert dry.output_for_node("redrive_letters")["resendable"] == 2
        assert dry.output_for_node("redrive_letters")["resent"] == 0

        run = redrive_dead_letters_job.execute_in_process(
            run_config={
                "ops": {"redrive_letters": {"config": {"reason_kinds": ["not JSON"], "dry_run": False}}}
            },
            resources=resources,
            instance=instance,
        )
        accounting = run.output_for_node("redrive_letters")
        assert (accounting["selected"], accounting["resent"], accounting["failed"], accounting["left"]) == (
            2,
            2,
            0,
            1,
        )
        (output,) = [e for e in run.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
        assert output.event_specific_data.metadata["resent"].value == 2


def test_a_redrive_without_a_choice_fails_naming_what_to_set(targets):
    result = redrive_dead_letters_job.execute_in_process(
        run_config={"ops": {"redrive_letters": {"config": {}}}},
        resources={"aws": AwsClients(), "targets": targets},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("redrive_letters")
    assert "choose which letters to re-send" in failure.error.message


def test_collecting_before_any_stack_exists_is_a_quiet_no_op(emulator, monkeypatch, tmp_path):
    monkeypatch.setenv("RTINFER_EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("RTINFER_HOME", str(tmp_path))
    nothing = MonitoringTargets(dead_letter_queue="none-dlq", batch_failure_queue="none-failures")
    result = collect_batch_failures_job.execute_in_process(
        resources={"aws": AwsClients(), "targets": nothing}
    )
    assert result.success
    assert "none-failures does not exist" in result.output_for_node("collect_failed_batches")["note"]


def test_the_code_location_has_the_dlq_asset_jobs_and_schedule():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "dead_letter_summary" in keys
    assert {"redrive_dead_letters", "collect_batch_failures"} <= {
        job.name for job in defs.resolve_all_job_defs()
    }
    schedule = defs.resolve_schedule_def("collect_batch_failures_hourly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
