"""The stream path's resources against the emulator: created in dependency order, and a second call
converges on the same stack instead of duplicating anything."""

import json
import time
import uuid

import pytest
from pydantic import ValidationError

from orchestration.stream.audit_log import AuditReader
from orchestration.stream.packaging import HANDLER, build_lambda_zip
from orchestration.stream.stack import (
    AUDIT_EXPIRY_RULE,
    ESM_PROFILES,
    MappingProfile,
    StreamStackSpec,
    deploy_stream_stack,
    ensure_audit_bucket,
    expiry_days,
)
from serving.schemas import format_timestamp


@pytest.fixture(scope="module")
def deployed(emulator, tmp_path_factory):
    spec = StreamStackSpec.named("stack-test", endpoint_name="stack-ep", input_shards=1)
    package = build_lambda_zip(tmp_path_factory.mktemp("stack") / "consumer.zip")
    first = deploy_stream_stack(emulator.client, spec, package, emulator.settings.sagemaker_role_arn)
    return spec, package, first


def test_the_stack_is_wired_together(emulator, deployed):
    spec, _, stack = deployed
    function = emulator.client("lambda").get_function(FunctionName="stack-test-consumer")["Configuration"]
    assert function["Handler"] == HANDLER
    variables = function["Environment"]["Variables"]
    assert variables["ENDPOINT_NAME"] == "stack-ep"
    assert variables["DEAD_LETTER_QUEUE_URL"] == stack.dead_letter_queue_url
    assert variables["AUDIT_BUCKET"] == stack.audit_bucket == "stack-test-audit"
    assert variables["DEAD_LETTER_BUCKET"] == stack.dead_letter_bucket == "stack-test-dead-letters"
    s3 = emulator.client("s3")
    for bucket in ("stack-test-dead-letters", "stack-test-audit"):  # the buckets exist
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # the audit objects expire after the retention, rounded up to whole days (30 days by default)
    assert s3.get_bucket_lifecycle_configuration(Bucket="stack-test-audit")["Rules"] == [
        {
            "ID": AUDIT_EXPIRY_RULE,
            "Filter": {"Prefix": "predictions/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
        }
    ]
    tables = emulator.client("dynamodb").list_tables()["TableNames"]
    assert "stack-test-feature-state" in tables and "stack-test-predictions" not in tables
    state_ttl = emulator.client("dynamodb").describe_time_to_live(TableName="stack-test-feature-state")
    assert state_ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"  # idle state ages out
    mapping = emulator.client("lambda").get_event_source_mapping(UUID=stack.mapping_uuid)
    # the default (latency) profile reads through an enhanced fan-out consumer of the input stream
    assert mapping["EventSourceArn"] == stack.mapping_source_arn and mapping["State"] == "Enabled"
    consumer = emulator.client("kinesis").describe_stream_consumer(ConsumerARN=stack.mapping_source_arn)
    assert consumer["ConsumerDescription"]["StreamARN"] == stack.input_stream_arn
    assert consumer["ConsumerDescription"]["ConsumerName"] == spec.stream_consumer == "stack-test-efo"
    assert consumer["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"
    latency = ESM_PROFILES["latency"]
    assert (
        mapping["BatchSize"],
        mapping["MaximumBatchingWindowInSeconds"],
        mapping["ParallelizationFactor"],
    ) == (latency.batch_size, latency.batching_window_s, latency.parallelization_factor)
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == stack.batch_failure_queue_arn
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    shards = emulator.client("kinesis").describe_stream_summary(StreamName="stack-test-predictions")
    assert shards["StreamDescriptionSummary"]["OpenShardCount"] == 1  # output follows the input's shards


def test_a_second_call_converges_on_the_same_stack(emulator, deployed):
    spec, package, first = deployed
    changed = spec.model_copy(update={"batch_size": 50})
    second = deploy_stream_stack(emulator.client, changed, package, emulator.settings.sagemaker_role_arn)
    assert second == first
    lam = emulator.client("lambda")
    mappings = lam.list_event_source_mappings(FunctionName="stack-test-consumer")["EventSourceMappings"]
    assert [m["UUID"] for m in mappings] == [first.mapping_uuid]
    assert lam.get_event_source_mapping(UUID=first.mapping_uuid)["BatchSize"] == 50  # settings converge too


def test_a_function_deployed_without_a_setting_gets_it_on_the_next_deploy(emulator, deployed):
    spec, package, first = deployed
    lam = emulator.client("lambda")
    variables = lam.get_function(FunctionName=spec.function_name)["Configuration"]["Environment"]["Variables"]
    older = {name: value for name, value in variables.items() if name != "DEAD_LETTER_BUCKET"}
    lam.update_function_configuration(FunctionName=spec.function_name, Environment={"Variables": older})
    deploy_stream_stack(emulator.client, spec, package, emulator.settings.sagemaker_role_arn)
    now = lam.get_function(FunctionName=spec.function_name)["Configuration"]["Environment"]["Variables"]
    assert now == variables
    tables = emulator.client("dynamodb").list_tables()["TableNames"]
    assert {"stack-test-feature-state", "stack-test-labels"} <= set(tables)


@pytest.mark.parametrize(("seconds", "days"), [(1, 1), (86_400, 1), (86_401, 2), (30 * 86_400, 30)])
def test_a_retention_becomes_whole_days_of_at_least_one(seconds, days):
    assert expiry_days(seconds) == days


def test_the_audit_lifecycle_follows_the_spec_on_each_deploy(emulator):
    s3 = emulator.client("s3")
    ensure_audit_bucket(s3, "stack-lifecycle-audit", 2 * 86_400 + 1)
    ensure_audit_bucket(s3, "stack-lifecycle-audit", 3 * 86_400 + 1)  # a new retention replaces the rule
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket="stack-lifecycle-audit")["Rules"]
    assert rule["Expiration"] == {"Days": 4}
    ensure_audit_bucket(s3, "stack-kept-audit", None)  # expiry off: no rule
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket="stack-kept-audit")


def test_a_bad_spec_names_the_field():
    with pytest.raises(ValidationError, match="input_shards"):
        StreamStackSpec(input_shards=0)
    with pytest.raises(ValidationError, match="batch_size"):
        StreamStackSpec.named("x", batch_size=0)


def test_a_profile_sets_the_mapping_and_explicit_fields_override_it():
    assert StreamStackSpec().esm_profile == "latency"
    assert StreamStackSpec().mapping_profile == ESM_PROFILES["latency"]
    assert ESM_PROFILES["latency"].enhanced_fan_out and not ESM_PROFILES["throughput"].enhanced_fan_out
    assert StreamStackSpec(esm_profile="throughput").mapping_profile == ESM_PROFILES["throughput"]
    throughput = ESM_PROFILES["throughput"]
    assert StreamStackSpec(esm_profile="throughput", batch_size=50).mapping_profile == MappingProfile(
        50, throughput.batching_window_s, throughput.parallelization_factor, False
    )
    assert not StreamStackSpec(enhanced_fan_out=False).mapping_profile.enhanced_fan_out
    assert (
        StreamStackSpec(batching_window_s=0, esm_profile="throughput").mapping_profile.batching_window_s == 0
    )
    with pytest.raises(ValidationError, match="esm_profile"):
        StreamStackSpec(esm_profile="fast")


def _events(count: int, start: int) -> list[dict]:
    now_ms = int(time.time() * 1000)
    return [
        {
            "Data": json.dumps(
                {
                    "request_id": f"switch-{i}",
                    "customer_id": f"C{i % 7}",
                    "terminal_id": f"T{i % 3}",
                    "merchant_category": "grocery",
                    "amount": 20.0,
                    "timestamp": format_timestamp(now_ms - 1000),
                    "device_id": "dev-1",
                    "distance_from_home": 2.5,
                }
            ).encode(),
            "PartitionKey": f"C{i % 7}",
        }
        for i in range(start, start + count)
    ]


def _stored_ids(emulator, spec) -> set[str]:
    return {
        row["request_id"] for _, row in AuditReader(emulator.client("s3"), spec.audit_bucket).rows_after(None)
    }


def wait_for(condition, what, timeout_s: float = 120.0) -> None:
    """Poll until `condition()` holds; generous for a loaded machine."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.2)


def test_switching_profile_replaces_the_mapping_and_skips_no_record(emulator, tmp_path):
    """EventSourceArn cannot be updated: a switch between enhanced fan-out and shared polling makes
    a new mapping that starts before the old one left off; the records put before, between and after
    the switches are all stored (some may be delivered twice, as Lambda may)."""
    name = f"switch-{uuid.uuid4().hex[:6]}"
    package = build_lambda_zip(tmp_path / "consumer.zip")
    role = emulator.settings.sagemaker_role_arn
    kinesis, lam = emulator.client("kinesis"), emulator.client("lambda")
    # small batches (an explicit setting, kept by both profiles): a small backlog exceeds them
    latency = StreamStackSpec.named(name, endpoint_name="stack-ep", input_shards=2, batch_size=50)
    throughput = latency.model_copy(update={"esm_profile": "throughput"})

    first = deploy_stream_stack(emulator.client, latency, package, role)
    # more than the old mapping's batches in flight (batch size x lanes x shards): it is behind when
    # it hands over, and the new one must start early enough to take up what it left
    backlog = 3 * latency.mapping_profile.batch_size * latency.mapping_profile.parallelization_factor * 2
    for start in range(0, backlog, 500):
        kinesis.put_records(
            StreamName=latency.input_stream, Records=_events(min(500, backlog - start), start)
        )
    second = deploy_stream_stack(emulator.client, throughput, package, role)
    assert second.mapping_source_arn == second.input_stream_arn != first.mapping_source_arn
    assert second.mapping_uuid != first.mapping_uuid
    kinesis.put_records(StreamName=latency.input_stream, Records=_events(20, backlog))
    wait_for(
        lambda: len(_stored_ids(emulator, latency)) >= backlog + 20,
        what=lambda: f"{len(_stored_ids(emulator, latency))} stored",
    )
    # the old mapping goes, and so does the consumer nothing reads any more (it is billed per shard-hour)
    wait_for(
        lambda: (
            [
                m["UUID"]
                for m in lam.list_event_source_mappings(FunctionName=latency.function_name)[
                    "EventSourceMappings"
                ]
            ]
            == [second.mapping_uuid]
        ),
        what="only the new mapping",
    )
    consumers = kinesis.list_stream_consumers(StreamARN=first.input_stream_arn)["Consumers"]
    assert all(c["ConsumerStatus"] == "DELETING" for c in consumers)

    third = deploy_stream_stack(emulator.client, latency, package, role)  # and back
    assert third.mapping_source_arn != third.input_stream_arn
    kinesis.put_records(StreamName=latency.input_stream, Records=_events(20, backlog + 20))
    wait_for(
        lambda: len(_stored_ids(emulator, latency)) >= backlog + 40,
        what=lambda: f"{len(_stored_ids(emulator, latency))} stored",
    )
    assert _stored_ids(emulator, latency) == {f"switch-{i}" for i in range(backlog + 40)}
    again = deploy_stream_stack(emulator.client, latency, package, role)  # no switch: nothing replaced
    assert again.mapping_uuid == third.mapping_uuid
