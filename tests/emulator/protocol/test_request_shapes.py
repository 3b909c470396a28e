"""Request members of the wrong type, or missing, are refused as each service refuses them, naming the
member: sent by boto3 with its own parameter validation off, so the emulator is what checks them."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

UNVALIDATED = Config(parameter_validation=False, retries={"total_max_attempts": 1})

SER, VAL, BAD_JSON = "SerializationException", "ValidationException", "InvalidRequestContentException"

# (service, operation, parameters, code, words the message must contain)
LAMBDA_FUNCTION = {"FunctionName": "f", "Role": "r", "Code": {}}
CASES = [
    ("kinesis", "describe_stream_summary", {"StreamName": 5}, SER, ["'streamName'", "5"]),
    ("kinesis", "put_records", {"StreamName": "s"}, VAL, ["Value null at 'records'"]),
    ("cloudwatch", "delete_alarms", {"AlarmNames": ["a", None]}, SER, ["'alarmNames.2.member'", "null"]),
    ("dynamodb", "get_item", {"TableName": "t", "Key": {"id": {"S": 1}}}, SER, ["'key.id.s'"]),
    ("dynamodb", "list_tables", {"Limit": "ten"}, SER, ["'limit'", "an integer"]),
    ("dynamodb", "list_tables", {"Limit": 2**40}, SER, ["'limit'", "between"]),
    ("sqs", "send_message", {"MessageBody": "b"}, "MissingParameter", ["QueueUrl"]),
    ("sqs", "send_message", {"QueueUrl": ["q"], "MessageBody": "b"}, SER, ["'queueUrl'"]),
    ("cloudwatch", "put_metric_data", {"MetricData": []}, "MissingParameter", ["Namespace"]),
    ("sagemaker", "describe_endpoint", {"EndpointName": {"a": 1}}, SER, ["'endpointName'"]),
    ("sagemaker", "create_endpoint_config", {"EndpointConfigName": "c"}, VAL, ["'productionVariants'"]),
    ("lambda", "create_function", {**LAMBDA_FUNCTION, "Timeout": "3"}, BAD_JSON, ["timeout"]),
    ("lambda", "create_event_source_mapping", {"FunctionName": "f", "BatchSize": "x"}, BAD_JSON, ["batch"]),
]  # fmt: skip


@pytest.mark.parametrize(("service", "operation", "params", "code", "words"), CASES)
def test_a_member_of_the_wrong_type_or_missing_is_refused(emulator, service, operation, params, code, words):
    client = emulator.client(service, UNVALIDATED)
    with pytest.raises(ClientError) as refused:
        getattr(client, operation)(**params)
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, error
    assert error["Code"] == code, error
    for word in words:
        assert word in error["Message"], error


def test_a_null_member_is_absent(emulator):
    """As AWS reads it: `"Limit": null` is no Limit at all."""
    dynamodb = emulator.client("dynamodb", UNVALIDATED)
    assert isinstance(dynamodb.list_tables(Limit=None)["TableNames"], list)
