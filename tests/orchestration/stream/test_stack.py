"""The stream path's resources against the emulator: created in dependency order, and a second call
converges on the same stack instead of duplicating anything."""

import pytest
from pydantic import ValidationError

from orchestration.stream.packaging import HANDLER, build_lambda_zip
from orchestration.stream.stack import (
    AUDIT_EXPIRY_RULE,
    StreamStackSpec,
    deploy_stream_stack,
    ensure_audit_bucket,
    expiry_days,
)


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
    assert mapping["EventSourceArn"] == stack.input_stream_arn and mapping["State"] == "Enabled"
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
