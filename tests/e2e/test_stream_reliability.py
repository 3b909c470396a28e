"""The stream path under faults, with real processes: the packaged consumer in Lambda workers behind the
emulator's event-source mapping, a real model endpoint, real tables and queues.

Every record that enters must end as exactly one of: a prediction, a flagged fallback, a DLQ entry.
"""

import threading
import time
from collections import Counter

from orchestration.stream.batch_failures import (
    BatchFailureConfig,
    collect_batch_failures,
    parse_batch_failure,
)
from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS, read_dead_letter
from orchestration.stream.queue_scan import receive_all, release
from orchestration.stream.redrive import RedriveConfig, redrive_dead_letters
from serving.consumer.claim_check import DeadLetterTarget


def test_every_record_is_accounted_for_exactly_once(stream_world):
    spec, stack = stream_world.new_stack()
    report = stream_world.send(spec, 0, 1200, rate=600, malformed=0.03)
    account = stream_world.account(spec, stack, report.sent)

    assert report.malformed > 0
    assert account.accounted == report.sent
    assert account.dead_lettered == report.malformed
    assert account.fallbacks == 0
    assert account.request_ids == set(report.request_ids)
    published = stream_world.published_request_ids(spec)
    assert Counter(published).most_common(1)[0][1] == 1
    assert set(published) == set(report.request_ids)
    assert set(account.model_versions) == {"stream-test-v1"}


def test_endpoint_down_mid_stream_gives_flagged_fallbacks_then_recovers(stream_world):
    spec, stack = stream_world.new_stack()
    before = stream_world.send(spec, 0, 300)
    stream_world.account(spec, stack, 300)

    stream_world.client("sagemaker").delete_endpoint(EndpointName=stream_world.endpoint_name)
    during = stream_world.send(spec, 300, 300)
    account = stream_world.account(spec, stack, 600)
    assert account.accounted == 600
    assert set(during.request_ids) <= account.fallback_request_ids
    assert not set(before.request_ids) & account.fallback_request_ids

    stream_world.deploy_endpoint()
    # Each function worker's breaker stays open for its cool-down (1 s in this stack), then probes. Send
    # traffic in slices until one is scored by the model again, with a deadline for a loaded machine.
    sent, deadline = 600, time.monotonic() + 120
    while True:
        assert sent + 100 <= len(stream_world.events), "ran out of events before the consumer recovered"
        after = stream_world.send(spec, sent, 100)
        sent += 100
        account = stream_world.account(spec, stack, sent)
        assert account.accounted == sent
        recovered = set(after.request_ids) - account.fallback_request_ids
        if len(recovered) >= 0.9 * len(after.request_ids):
            break
        assert time.monotonic() < deadline, f"still falling back {sent - 600} records after the redeploy"


def test_killed_function_workers_lose_nothing(stream_world):
    spec, stack = stream_world.new_stack()
    killed = []
    stop = threading.Event()

    def keep_killing() -> None:
        # Pacing, not waiting for a condition: a kill every 0.4 s for as long as traffic flows, so
        # batches are cut short at many points. The wait ends as soon as the traffic is sent.
        while not stop.is_set():
            killed.append(stream_world.kill_function_workers(spec.function_name))
            stop.wait(0.4)

    killer = threading.Thread(target=keep_killing)
    killer.start()
    try:
        report = stream_world.send(spec, 0, 1000, rate=400)
    finally:
        stop.set()
        killer.join()
    account = stream_world.account(spec, stack, report.sent)

    assert sum(killed) > 0
    assert stream_world.mapping_stats(stack)["failed_invocations"] > 0  # batches really were cut short
    assert account.accounted == report.sent
    assert account.request_ids == set(report.request_ids)
    assert account.fallbacks == 0 and account.dead_lettered == 0


def test_emulator_restart_mid_stream_resumes_from_the_checkpoint(stream_world):
    spec, stack = stream_world.new_stack()
    first = stream_world.send(spec, 0, 600)
    stream_world.account(spec, stack, 600)
    second = stream_world.send(spec, 600, 600, rate=3000)

    stream_world.emulator.stop()  # mid-stream: the second half is in the stream, partly consumed
    stream_world.emulator.start()
    # Mappings resume once the endpoints' instances are back InService: on a loaded 2-core machine
    # restoring the model servers alone has taken over a minute, so the wait is generous.
    account = stream_world.account(spec, stack, 1200, timeout_s=300)

    missing = (set(first.request_ids) | set(second.request_ids)) - account.request_ids
    why = (
        f"{len(missing & set(first.request_ids))} of the first half and "
        f"{len(missing & set(second.request_ids))} of the second missing, e.g. {sorted(missing)[:5]}; "
        f"mapping {stream_world.mapping_stats(stack)}"
    )
    assert account.accounted == 1200, why
    assert not missing, why
    # Counters restart at zero with the emulator: reading less than everything proves the mapping
    # resumed from its stored checkpoint rather than from the start of the stream.
    assert stream_world.mapping_stats(stack)["records_read"] < 1200


def test_a_record_too_big_for_sqs_reaches_the_dead_letter_queue_whole(stream_world):
    spec, stack = stream_world.new_stack()
    # ~800 KB of UTF-8 that is not JSON; its letter, JSON-escaped, is ~2.4 MB: far over SQS's 256 KiB
    data = ("not json " + "é" * 400_000).encode()
    stream_world.client("kinesis").put_record(StreamName=spec.input_stream, Data=data, PartitionKey="C-huge")
    account = stream_world.account(spec, stack, 1)
    assert (account.dead_lettered, account.predictions) == (1, 0)

    sqs, s3 = stream_world.client("sqs"), stream_world.client("s3")
    (message,) = sqs.receive_message(QueueUrl=stack.dead_letter_queue_url, **RECEIVE_ARGUMENTS)["Messages"]
    letter = read_dead_letter(message, s3)
    assert letter.claim_checked and letter.stored_at[0] == spec.dead_letter_bucket
    assert letter.payload_bytes() == data and letter.reason.startswith("not JSON")
    assert letter.partition_key == "C-huge" and letter.event_source_arn == stack.input_stream_arn
    assert message["MessageAttributes"]["Reason"]["StringValue"].startswith("not JSON")


def test_a_batch_the_function_gave_up_on_is_collected_and_redriven_after_the_fix(stream_world):
    spec, stack = stream_world.new_stack(maximum_retry_attempts=0)
    lam, sqs = stream_world.client("lambda"), stream_world.client("sqs")
    variables = lam.get_function(FunctionName=spec.function_name)["Configuration"]["Environment"]["Variables"]
    broken = {**variables, "FEATURE_STATE_TABLE": "no-such-table"}  # every batch fails as a whole
    lam.update_function_configuration(FunctionName=spec.function_name, Environment={"Variables": broken})
    report = stream_world.send(spec, 0, 3)
    deadline = time.monotonic() + 120
    while _records_given_up(sqs, stack.batch_failure_queue_url) < 3:
        assert time.monotonic() < deadline, "Lambda did not give up on every record"
        time.sleep(0.2)

    lam.update_function_configuration(FunctionName=spec.function_name, Environment={"Variables": variables})
    target = DeadLetterTarget(stack.dead_letter_queue_url, spec.dead_letter_bucket)
    kinesis, s3 = stream_world.client("kinesis"), stream_world.client("s3")
    collected = collect_batch_failures(
        sqs, kinesis, s3, stack.batch_failure_queue_url, target, BatchFailureConfig()
    )
    assert (collected.records_dead_lettered, collected.records_not_retained) == (3, 0)
    choice = RedriveConfig(reason_kinds=["batch failure: RetryAttemptsExhausted"], dry_run=False)
    redriven = redrive_dead_letters(sqs, s3, kinesis, stack.dead_letter_queue_url, spec.input_stream, choice)
    assert redriven.resent == 3

    account = stream_world.account(spec, stack, 3)
    assert account.request_ids == set(report.request_ids) and account.dead_lettered == 0


def _records_given_up(sqs, url: str) -> int:
    """Records covered by the failure records on the queue (read without consuming them)."""
    held = receive_all(sqs, url, visibility_timeout_s=30, wait_s=0)
    try:
        return sum(parse_batch_failure(message["Body"]).batch_size for message in held.messages)
    finally:
        release(sqs, url, held.messages)
