"""infra/template.yaml: lint-clean, and in agreement with the code that runs on it.

cfn-lint validates the SAM template as written (it ships its own specs and needs no network) but, in
the 1.x releases, not the properties of a SAM `Events` entry. So the Kinesis event is also linted as
the AWS::Lambda::EventSourceMapping SAM turns it into, and a deliberately broken copy of both proves
the linter is actually looking. The structural tests read the template with a loader that keeps the
CloudFormation short-form tags, and compare it with the consumer's configuration code, the calls the
consumer makes, and the requests orchestration/stream_stack.py sends when it builds the same stack.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore import xform_name

from orchestration.stream.packaging import HANDLER
from orchestration.stream.stack import (
    AUDIT_EXPIRY_RULE,
    ESM_PROFILES,
    StreamStackSpec,
    ensure_function,
    ensure_mapping,
    ensure_queue,
    expiry_days,
)
from serving.consumer import audit
from serving.consumer import config as consumer_config
from serving.consumer.claim_check import KEY_PREFIX

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
CONSUMER_SOURCES = sorted((ROOT / "serving" / "consumer").glob("*.py"))
FUNCTION = "ConsumerFunction"
EVENT = "Transactions"


# --- reading the template -------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x`, `!GetAtt a.b`, `!Sub ...` into their long JSON forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(text: str) -> dict:
    return yaml.load(text, Loader=_CfnLoader)


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE.read_text())


def resources(template: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_}


def function(template: dict) -> dict:
    return template["Resources"][FUNCTION]["Properties"]


PROFILES = ("latency", "throughput")


def _holds(template: dict, condition: str, profile: str) -> bool:
    """Whether a condition holds with StreamProfile=profile (the event's only conditions)."""
    left, right = template["Conditions"][condition]["Fn::Equals"]
    assert left == {"Ref": "StreamProfile"}, condition
    return profile == right


def under_profile(template: dict, value, profile: str):
    """`value` with every Fn::If in it resolved as it is with StreamProfile=profile."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        chosen = when_true if _holds(template, condition, profile) else when_false
        return under_profile(template, chosen, profile)
    if isinstance(value, dict):
        return {key: under_profile(template, item, profile) for key, item in value.items()}
    if isinstance(value, list):
        return [under_profile(template, item, profile) for item in value]
    return value


def kinesis_event(template: dict) -> dict:
    event = function(template)["Events"][EVENT]
    assert event["Type"] == "Kinesis"
    return event["Properties"]


_NAME_PROPERTY = {
    "AWS::Kinesis::Stream": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::S3::Bucket": "BucketName",
}


def default_of(template: dict, value):
    """What a value is with every parameter at its default; a Ref to a resource gives its name."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        target = value["Ref"]
        if target in template.get("Parameters", {}):
            return template["Parameters"][target]["Default"]
        resource = template["Resources"][target]
        return default_of(template, resource["Properties"][_NAME_PROPERTY[resource["Type"]]])
    return value


def get_att(resource: str, attribute: str = "Arn") -> dict:
    return {"Fn::GetAtt": [resource, attribute]}


# --- cfn-lint ---------------------------------------------------------------------------------------


def expanded(template: dict) -> dict:
    """The template with the function's Kinesis event written as the EventSourceMapping SAM makes."""
    result = copy.deepcopy(template)
    events = result["Resources"][FUNCTION]["Properties"].pop("Events")
    for name, event in events.items():
        properties = dict(event["Properties"])
        destination = copy.deepcopy(properties.get("DestinationConfig", {}))
        destination.get("OnFailure", {}).pop("Type", None)  # SAM-only: it picks the policy to add
        if destination:
            properties["DestinationConfig"] = destination
        result["Resources"][f"{FUNCTION}{name}"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": properties.pop("Stream"),
                "FunctionName": {"Ref": FUNCTION},
                **properties,
            },
        }
    return result


@pytest.fixture(scope="module")
def cfn_lint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    command = Path(sys.executable).parent / "cfn-lint"
    prefix = (
        [str(command)]
        if command.exists()
        else [sys.executable, "-c", "from cfnlint.runner import main; main()"]
    )
    env = dict(os.environ)
    # Without bytecode caching (PYTHONDONTWRITEBYTECODE is set on some machines) every run compiles
    # cfn-lint and networkx from source, ~10 s; cache the bytecode under .pytest_cache instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    pycache = cache.mkdir("cfn-lint-pycache") if cache else tmp_path_factory.mktemp("cfn-lint-pycache")
    env["PYTHONPYCACHEPREFIX"] = str(pycache)

    def run(*paths: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*prefix, "--format", "parseable", "--include-checks", "I", "--", *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=ROOT,
        )

    return run


@pytest.fixture(scope="module")
def cfn_lint_findings(cfn_lint, template, tmp_path_factory) -> dict[str, set[str]]:
    """One cfn-lint run (its start-up is most of its time) over the template, the mapping as the
    transform expands it, and two damaged copies: file name -> the rule ids it broke."""
    work = tmp_path_factory.mktemp("cfn-lint")
    mapping = work / "expanded.json"
    mapping.write_text(json.dumps(expanded(template), indent=1))
    broken_sam = work / "broken.yaml"
    broken_sam.write_text(TEMPLATE.read_text().replace("Runtime: python3.11", "Runtime: python2.7"))
    broken_mapping = copy.deepcopy(template)
    kinesis_event(broken_mapping)["StartingPosition"] = "OLDEST"
    kinesis_event(broken_mapping)["BatchSize"] = 20_000
    broken_expanded = work / "broken-expanded.json"
    broken_expanded.write_text(json.dumps(expanded(broken_mapping), indent=1))
    result = cfn_lint(TEMPLATE, mapping, broken_sam, broken_expanded)
    assert result.stderr.strip() == "" and result.returncode != 0, result.stderr
    findings: dict[str, set[str]] = {
        path.name: set() for path in (TEMPLATE, mapping, broken_sam, broken_expanded)
    }
    for line in result.stdout.splitlines():
        findings.setdefault(Path(line.split(":")[0]).name, set()).add(line.split(":")[5])
    return findings


def test_cfn_lint_reports_nothing(cfn_lint_findings):
    assert cfn_lint_findings[TEMPLATE.name] == set()
    assert cfn_lint_findings["expanded.json"] == set()


def test_cfn_lint_catches_broken_copies(cfn_lint_findings):
    """The same run on damaged copies fails: the SAM function and the mapping really are validated."""
    assert "E2533" in cfn_lint_findings["broken.yaml"]  # deprecated runtime on AWS::Serverless::Function
    assert "E3031" in cfn_lint_findings["broken-expanded.json"]  # StartingPosition not in the enum
    assert "E3034" in cfn_lint_findings["broken-expanded.json"]  # BatchSize above Kinesis's 10000


# --- the event-source mapping -----------------------------------------------------------------------


def test_mapping_reports_partial_failures_and_bounds_retries(template):
    event = kinesis_event(template)
    assert under_profile(template, event["Stream"], "throughput") == get_att("InputStream")
    assert template["Resources"]["InputStream"]["Type"] == "AWS::Kinesis::Stream"
    assert event["StartingPosition"] == "TRIM_HORIZON"
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True
    assert 0 <= event["MaximumRetryAttempts"] <= 10  # -1 would retry until the record expires
    assert 60 <= event["MaximumRecordAgeInSeconds"] <= 24 * 3600  # -1 would never give up
    destination = event["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == get_att("BatchFailureQueue")
    assert template["Resources"]["BatchFailureQueue"]["Type"] == "AWS::SQS::Queue"
    assert function(template)["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"] != {
        "Ref": "BatchFailureQueue"
    }


class _RecordingClient:
    """Stands in for a boto3 client and records the requests stream_stack.py sends to it."""

    class exceptions:  # botocore clients name it so
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self):
        self.requests: dict[str, dict] = {}

    def list_event_source_mappings(self, **kwargs):
        return {"EventSourceMappings": []}

    def create_event_source_mapping(self, **kwargs):
        self.requests["create_event_source_mapping"] = kwargs
        return {"UUID": "uuid"}

    def get_function(self, **kwargs):
        raise self.exceptions.ResourceNotFoundException()

    def create_function(self, **kwargs):
        self.requests["create_function"] = kwargs
        return {"FunctionArn": "function-arn"}

    def create_queue(self, **kwargs):
        self.requests["create_queue"] = kwargs
        return {"QueueUrl": "queue-url"}

    def get_queue_attributes(self, **kwargs):
        return {"Attributes": {"QueueArn": "queue-arn"}}


def test_the_latency_profile_reads_through_an_enhanced_fan_out_consumer(template):
    """The consumer exists only with the latency profile, is the mapping's source then, and is the
    one the local stack registers; the profile parameter offers the spec's profiles."""
    parameter = template["Parameters"]["StreamProfile"]
    assert parameter["Default"] == StreamStackSpec().esm_profile == "latency"
    assert parameter["AllowedValues"] == list(ESM_PROFILES) == list(PROFILES)
    consumer = template["Resources"]["InputStreamConsumer"]
    assert consumer["Type"] == "AWS::Kinesis::StreamConsumer"
    assert consumer["Condition"] == "UseEnhancedFanOut"
    assert consumer["Properties"]["StreamARN"] == get_att("InputStream")
    name = consumer["Properties"]["ConsumerName"]["Fn::Sub"]
    assert (
        name.replace("${FunctionName}", default_of(template, {"Ref": FUNCTION}))
        == StreamStackSpec().stream_consumer
    )
    stream = kinesis_event(template)["Stream"]
    assert under_profile(template, stream, "latency") == get_att("InputStreamConsumer", "ConsumerARN")
    assert under_profile(template, stream, "throughput") == get_att("InputStream")


@pytest.mark.parametrize("profile", PROFILES)
def test_mapping_is_the_one_the_local_stack_creates(template, profile):
    client = _RecordingClient()
    spec = StreamStackSpec(esm_profile=profile)
    efo = spec.mapping_profile.enhanced_fan_out
    ensure_mapping(client, spec, "consumer-arn" if efo else "input-stream-arn", "failure-queue-arn")
    local = client.requests["create_event_source_mapping"]
    event = under_profile(template, kinesis_event(template), profile)
    for key, value in local.items():
        if key == "EventSourceArn":
            assert event["Stream"] == (
                get_att("InputStreamConsumer", "ConsumerARN") if efo else get_att("InputStream")
            )
        elif key == "FunctionName":
            assert default_of(template, {"Ref": FUNCTION}) == value
        elif key == "DestinationConfig":
            assert value == {"OnFailure": {"Destination": "failure-queue-arn"}}
            assert event[key] == {"OnFailure": {"Destination": get_att("BatchFailureQueue")}}
        else:
            assert event[key] == value, key
    assert set(event) == set(local) - {"EventSourceArn", "FunctionName"} | {"Stream"}


# --- the function -----------------------------------------------------------------------------------


def _called_names(path: Path, callee: str) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == callee
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_function_is_the_one_the_local_stack_creates(template, tmp_path):
    package = tmp_path / "consumer.zip"
    package.write_bytes(b"zip")
    spec = StreamStackSpec()
    client = _RecordingClient()
    ensure_function(client, spec, package, "role-arn", "dlq-url")
    local = client.requests["create_function"]
    properties = function(template)
    assert properties["Handler"] == local["Handler"] == HANDLER == "serving.consumer.handler.lambda_handler"
    assert properties["Runtime"] == local["Runtime"]
    assert properties["Timeout"] == local["Timeout"] == spec.function_timeout_s
    assert properties["MemorySize"] == local["MemorySize"] == spec.function_memory_mb
    assert properties["Role"] == get_att("ConsumerRole")
    assert "Policies" not in properties  # SAM ignores them next to Role; they would only mislead
    assert (TEMPLATE.parent / properties["CodeUri"]).resolve() == ROOT / "dist" / "consumer.zip"

    variables = properties["Environment"]["Variables"]
    assert set(variables) == set(local["Environment"]["Variables"]) | {"POWERTOOLS_SERVICE_NAME"}
    for name, value in local["Environment"]["Variables"].items():
        if name == "DEAD_LETTER_QUEUE_URL":  # a URL only once the queue exists: compare its name
            assert variables[name] == {"Ref": "DeadLetterQueue"}
            assert default_of(template, variables[name]) == spec.dead_letter_queue
        else:
            assert str(default_of(template, variables[name])) == value, name


def test_environment_is_what_the_consumer_reads(template, monkeypatch):
    """Every variable config.py requires is set, and nothing is set that no code reads."""
    variables = function(template)["Environment"]["Variables"]
    config_source = Path(consumer_config.__file__)
    required = _called_names(config_source, "_required")
    tunables = _called_names(config_source, "_number")
    assert required >= {"ENDPOINT_NAME", "DEAD_LETTER_QUEUE_URL"}  # the source scan found the calls
    assert required <= set(variables)
    extras = set(variables) - required
    assert extras <= tunables | {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}

    # The module's own logic agrees: with the template's values it loads; without any one of the
    # required variables it refuses and names it.
    for name in required | tunables:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, str(default_of(template, value)))
    loaded = consumer_config.ConsumerConfig.from_env()
    assert loaded.endpoint_name == StreamStackSpec().endpoint_name
    assert loaded.circuit_cooldown_s == StreamStackSpec().circuit_cooldown_s
    for name in variables:
        with monkeypatch.context() as scoped:
            scoped.delenv(name)
            if name in required:
                with pytest.raises(consumer_config.ConfigurationError, match=name):
                    consumer_config.ConsumerConfig.from_env()
            else:
                consumer_config.ConsumerConfig.from_env()

    # Powertools' service and namespace are the ones the handler's Logger and Metrics declare.
    handler = ast.parse((ROOT / "serving" / "consumer" / "handler.py").read_text())
    declared = {
        keyword.arg: keyword.value.value
        for node in ast.walk(handler)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Metrics"
        for keyword in node.keywords
    }
    assert variables["POWERTOOLS_SERVICE_NAME"] == declared["service"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == declared["namespace"] == "rtinfer"


# --- IAM --------------------------------------------------------------------------------------------

# What the event-source mapping needs on the input stream (standard iterators).
MAPPING_READ = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
}
# And what it needs with enhanced fan-out, on the consumer (the latency profile only).
ENHANCED_FAN_OUT = {"kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"}
# IAM authorizes these batch APIs with the single-message action.
_IAM_ACTION_OF = {"sqs:SendMessageBatch": "sqs:SendMessage"}
# What Lambda needs to write the function's logs, granted on the function's own log group (no managed
# policy: AWSLambdaBasicExecutionRole grants them, and logs:CreateLogGroup, on Resource "*").
LOG_WRITES = {"logs:CreateLogStream", "logs:PutLogEvents"}


def _branches(policy) -> list[dict]:
    """A policy, or both branches of a conditional one (less AWS::NoValue)."""
    if set(policy) == {"Fn::If"}:
        _, when_true, when_false = policy["Fn::If"]
        return [branch for branch in (when_true, when_false) if branch != {"Ref": "AWS::NoValue"}]
    return [policy]


def statements(template: dict) -> list[dict]:
    found = []
    for role in resources(template, "AWS::IAM::Role").values():
        for conditional in role["Properties"].get("Policies", []):
            for policy in _branches(conditional):
                found += policy["PolicyDocument"]["Statement"]
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources(template, type_).values():
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def grants(template: dict) -> dict[str, set[str]]:
    """Resource (as written, JSON-encoded) -> the actions allowed on it."""
    result: dict[str, set[str]] = {}
    for statement in statements(template):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for resource in _as_list(statement["Resource"]):
            result.setdefault(json.dumps(resource, sort_keys=True), set()).update(
                _as_list(statement["Action"])
            )
    return result


# The only wildcards in a resource: the objects under the claim-checked dead letters' key prefix, and
# under the audit objects' prefix.
DEAD_LETTER_OBJECTS = {"Fn::Sub": f"${{DeadLetterBucket.Arn}}/{KEY_PREFIX}*"}
AUDIT_OBJECTS = {"Fn::Sub": f"${{AuditBucket.Arn}}/{audit.PREFIX}*"}


def test_iam_has_no_wildcards(template):
    assert statements(template)
    for statement in statements(template):
        for action in _as_list(statement["Action"]):
            assert "*" not in action, statement
        for resource in _as_list(statement["Resource"]):
            assert resource in (DEAD_LETTER_OBJECTS, AUDIT_OBJECTS) or "*" not in json.dumps(resource), (
                statement
            )
    (role,) = resources(template, "AWS::IAM::Role").values()
    assert "ManagedPolicyArns" not in role["Properties"]
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "lambda.amazonaws.com"}


def test_streams_use_the_aws_managed_key_so_no_kms_grant_is_needed(template):
    streams = resources(template, "AWS::Kinesis::Stream")
    assert set(streams) == {"InputStream", "OutputStream"}
    for stream in streams.values():
        assert stream["Properties"]["StreamEncryption"] == {
            "EncryptionType": "KMS",
            "KeyId": "alias/aws/kinesis",
        }
        assert stream["Properties"]["RetentionPeriodHours"] == 24
    # alias/aws/kinesis's key policy admits any principal of the account calling through Kinesis;
    # a kms: statement would need the key's id, which the template cannot know, or a wildcard.
    actions = set().union(*grants(template).values())
    assert not {a for a in actions if a.startswith("kms:")}


# TransactWriteItems has no IAM action of its own: each entry is authorized as its single-item action.
_TRANSACT_ENTRY_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def consumer_calls() -> set[str]:
    """IAM actions for every AWS operation called anywhere in serving/consumer/*.py."""
    session = botocore.session.get_session()
    operations: dict[str, str] = {}
    for service in ("dynamodb", "kinesis", "sqs", "s3", "sagemaker-runtime"):
        model = session.get_service_model(service)
        prefix = model.signing_name  # sagemaker-runtime's IAM prefix is sagemaker
        for operation in model.operation_names:
            action = f"{prefix}:{operation}"
            operations[xform_name(operation)] = _IAM_ACTION_OF.get(action, action)
    called = set()
    for path in CONSUMER_SOURCES:
        nodes = list(ast.walk(ast.parse(path.read_text())))
        for node in nodes:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in operations
            ):
                called.add(operations[node.func.attr])
        if "dynamodb:TransactWriteItems" in called:
            called.discard("dynamodb:TransactWriteItems")
            entries = {
                key.value
                for node in nodes
                if isinstance(node, ast.Dict)
                for key in node.keys
                if isinstance(key, ast.Constant) and key.value in _TRANSACT_ENTRY_ACTIONS
            }
            assert entries, f"{path.name} calls transact_write_items; no entry kind found"
            called |= {_TRANSACT_ENTRY_ACTIONS[kind] for kind in entries}
    return called


def test_iam_grants_exactly_what_the_consumer_and_mapping_use(template):
    called = consumer_calls()
    assert {"sagemaker:InvokeEndpoint", "kinesis:PutRecords", "sqs:SendMessage", "s3:PutObject"} <= called
    granted = set().union(*grants(template).values())
    assert granted == called | MAPPING_READ | ENHANCED_FAN_OUT | LOG_WRITES


def test_iam_grants_each_action_on_its_own_resource(template):
    def key(value) -> str:
        return json.dumps(value, sort_keys=True)

    endpoint = {
        "Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointName}"
    }
    assert grants(template) == {
        key(get_att("InputStream")): MAPPING_READ,
        key(get_att("InputStreamConsumer", "ConsumerARN")): ENHANCED_FAN_OUT,
        key(get_att("OutputStream")): {"kinesis:PutRecords"},
        key(get_att("FeatureStateTable")): {
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:UpdateItem",
        },
        key(get_att("DeadLetterQueue")): {"sqs:SendMessage"},  # the consumer's poison records
        key(get_att("BatchFailureQueue")): {"sqs:SendMessage"},  # the mapping's OnFailure, as this role
        key(DEAD_LETTER_OBJECTS): {"s3:PutObject"},  # claim-checked letters, under their prefix only
        key(AUDIT_OBJECTS): {"s3:PutObject"},  # the audit objects, under their prefix only
        key(endpoint): {"sagemaker:InvokeEndpoint"},
        key(get_att("ConsumerLogGroup")): LOG_WRITES,  # the function's own log group, nothing else
    }
    # the consumer's grant exists only where the consumer does
    policies = template["Resources"]["ConsumerRole"]["Properties"]["Policies"]
    conditional = [policy["Fn::If"] for policy in policies if set(policy) == {"Fn::If"}]
    assert [(condition, otherwise) for condition, _, otherwise in conditional] == [
        ("UseEnhancedFanOut", {"Ref": "AWS::NoValue"})
    ]
    (statement,) = conditional[0][1]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == get_att("InputStreamConsumer", "ConsumerARN")
    assert set(statement["Action"]) == ENHANCED_FAN_OUT
    log_group = template["Resources"]["ConsumerLogGroup"]["Properties"]["LogGroupName"]
    assert log_group == {"Fn::Sub": "/aws/lambda/${FunctionName}"}  # where Lambda writes the logs
    assert template["Resources"][FUNCTION]["DependsOn"] == "ConsumerLogGroup"  # exists before any log
    # Endpoint ARNs are lower-case, so the parameter only admits names whose ARN the grant matches.
    pattern = template["Parameters"]["EndpointName"]["AllowedPattern"]
    assert re.fullmatch(pattern, StreamStackSpec().endpoint_name)
    assert not re.fullmatch(pattern, "Rtinfer-Fraud")


# --- defaults and stores ----------------------------------------------------------------------------


def test_defaults_agree_with_stream_stack_spec(template):
    spec = StreamStackSpec()
    resources_ = template["Resources"]
    names = {
        "InputStream": spec.input_stream,
        "OutputStream": spec.output_stream,
        "FeatureStateTable": spec.feature_state_table,
        "LabelsTable": spec.labels_table,
        "DeadLetterQueue": spec.dead_letter_queue,
        "DeadLetterBucket": spec.dead_letter_bucket,
        "AuditBucket": spec.audit_bucket,
        "BatchFailureQueue": spec.batch_failure_queue,
        FUNCTION: spec.function_name,
    }
    for resource, name in names.items():
        assert default_of(template, {"Ref": resource}) == name, resource
    assert default_of(template, resources_["InputStream"]["Properties"]["ShardCount"]) == spec.input_shards
    output_shards = spec.output_shards or spec.input_shards  # as deployed: one output record per input
    assert default_of(template, resources_["OutputStream"]["Properties"]["ShardCount"]) == output_shards
    parameters = template["Parameters"]
    assert parameters["EndpointName"]["Default"] == spec.endpoint_name
    assert parameters["CircuitCooldownSeconds"]["Default"] == spec.circuit_cooldown_s
    for profile in PROFILES:  # each profile's numbers are the spec's
        numbers = StreamStackSpec(esm_profile=profile).mapping_profile
        event = under_profile(template, kinesis_event(template), profile)
        assert event["BatchSize"] == numbers.batch_size
        assert event["MaximumBatchingWindowInSeconds"] == numbers.batching_window_s
        assert event["ParallelizationFactor"] == numbers.parallelization_factor
    assert event["MaximumRetryAttempts"] == spec.maximum_retry_attempts
    assert event["MaximumRecordAgeInSeconds"] == spec.maximum_record_age_s
    assert function(template)["Timeout"] == spec.function_timeout_s
    assert function(template)["MemorySize"] == spec.function_memory_mb


def test_tables_are_keyed_like_the_local_stack_and_encrypted(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    keys = {"FeatureStateTable": "pk", "LabelsTable": "request_id"}  # the audit trail is in S3
    assert set(tables) == set(keys)
    for name, hash_key in keys.items():
        properties = tables[name]["Properties"]
        assert properties["KeySchema"] == [{"AttributeName": hash_key, "KeyType": "HASH"}]
        assert properties["AttributeDefinitions"] == [{"AttributeName": hash_key, "AttributeType": "S"}]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert tables[name]["DeletionPolicy"] == tables[name]["UpdateReplacePolicy"] == "Retain"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_queues_keep_messages_as_long_as_the_local_stack_and_are_encrypted(template):
    client = _RecordingClient()
    ensure_queue(client, "queue")
    retention = int(client.requests["create_queue"]["Attributes"]["MessageRetentionPeriod"])
    queues = resources(template, "AWS::SQS::Queue")
    assert set(queues) == {"DeadLetterQueue", "BatchFailureQueue"}
    for queue in queues.values():
        assert queue["Properties"]["MessageRetentionPeriod"] == retention == 14 * 24 * 3600
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["DeletionPolicy"] == queue["UpdateReplacePolicy"] == "Retain"  # letters survive


def _bucket_is_private_encrypted_and_tls_only(template: dict, name: str) -> dict:
    """The bucket's properties, once it is checked to be retained, encrypted, private and TLS-only."""
    bucket = template["Resources"][name]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    properties = bucket["Properties"]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (policy,) = [
        p
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": name}
    ]
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [get_att(name, "Arn"), {"Fn::Sub": f"${{{name}.Arn}}/*"}]
    return properties


def test_the_buckets_are_the_audit_trail_and_the_dead_letters(template):
    assert set(resources(template, "AWS::S3::Bucket")) == {"AuditBucket", "DeadLetterBucket"}


def test_the_dead_letter_bucket_is_kept_private_encrypted_and_bounded(template):
    properties = _bucket_is_private_encrypted_and_tls_only(template, "DeadLetterBucket")
    (expiry,) = properties["LifecycleConfiguration"]["Rules"]
    assert expiry["Prefix"] == KEY_PREFIX and expiry["Status"] == "Enabled"
    client = _RecordingClient()
    ensure_queue(client, "queue")
    retention_days = int(client.requests["create_queue"]["Attributes"]["MessageRetentionPeriod"]) / 86400
    assert expiry["ExpirationInDays"] > retention_days  # a letter's body outlives its message


def test_the_audit_bucket_is_kept_private_encrypted_and_expires_as_the_local_stack(template):
    properties = _bucket_is_private_encrypted_and_tls_only(template, "AuditBucket")
    (expiry,) = properties["LifecycleConfiguration"]["Rules"]
    assert expiry["Id"] == AUDIT_EXPIRY_RULE and expiry["Status"] == "Enabled"
    assert expiry["Prefix"] == audit.PREFIX
    assert default_of(template, expiry["ExpirationInDays"]) == expiry_days(
        StreamStackSpec().predictions_retention_s
    )


def test_outputs_name_what_a_deployment_needs(template):
    assert set(template["Outputs"]) >= {
        "InputStreamName",
        "InputStreamArn",
        "OutputStreamName",
        "OutputStreamArn",
        "AuditBucketName",
        "FeatureStateTableName",
        "LabelsTableName",
        "DeadLetterQueueUrl",
        "DeadLetterBucketName",
        "BatchFailureQueueUrl",
        "ConsumerFunctionArn",
    }
