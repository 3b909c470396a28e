"""serving.consumer.handler: the Lambda entry point, configured from its environment as Lambda runs it,
against the emulator. What Lambda gets back decides redelivery: a record whose outcome was not written
must be listed in batchItemFailures, and only such records."""

import importlib
import json
import sys
from dataclasses import dataclass

import pytest

from serving.consumer import clients as consumer_clients
from serving.consumer.config import ConfigurationError

MODULE = "serving.consumer.handler"


@dataclass
class LambdaContext:
    """The attributes Lambda's context object carries that the handler and its logger read."""

    function_name: str = "fraud-consumer"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:fraud-consumer"
    aws_request_id: str = "req-handler-test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def load_handler(monkeypatch, emulator, consumer_config):
    """`load_handler(**env)`: import the handler fresh with the function's environment (the test stack's
    settings, overridden by env), as a new execution environment does."""

    def load(**env):
        settings = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{emulator.port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "ENDPOINT_NAME": consumer_config.endpoint_name,
            "AUDIT_BUCKET": consumer_config.audit_bucket,
            "FEATURE_STATE_TABLE": consumer_config.feature_state_table,
            "OUTPUT_STREAM": consumer_config.output_stream,
            "DEAD_LETTER_QUEUE_URL": consumer_config.dead_letter_queue_url,
            "DEAD_LETTER_BUCKET": consumer_config.dead_letter_bucket,
            **env,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        consumer_clients.clients.cache_clear()
        sys.modules.pop(MODULE, None)
        return importlib.import_module(MODULE)

    yield load
    sys.modules.pop(MODULE, None)
    consumer_clients.clients.cache_clear()


def test_a_batch_is_recorded_and_nothing_is_redelivered(
    load_handler, records, consumer_config, stored_predictions, dead_letters
):
    handler = load_handler()
    batch = [records.event(i, customer=f"H{i % 3}") for i in range(6)] + [records.raw(b"{oops")]
    response = handler.lambda_handler({"Records": batch}, LambdaContext())

    assert response == {"batchItemFailures": []}
    assert set(stored_predictions(consumer_config.audit_bucket)) == {f"req-{i}" for i in range(6)}
    letters = dead_letters(consumer_config.dead_letter_queue_url)
    assert [letter["sequence_number"] for letter in letters] == [batch[-1]["kinesis"]["sequenceNumber"]]


def test_records_whose_outcome_was_not_written_are_redelivered(load_handler, records, capsys):
    handler = load_handler(OUTPUT_STREAM="no-such-stream")
    batch = [records.event(i, customer="H-lost") for i in range(3)]
    response = handler.lambda_handler({"Records": batch}, LambdaContext())

    assert response == {
        "batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]} for record in batch]
    }
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics and metrics[-1]["RecordsNotPersisted"] == [3.0]


def test_a_function_deployed_without_a_setting_fails_at_start_naming_it(load_handler, monkeypatch):
    monkeypatch.delenv("AUDIT_BUCKET", raising=False)
    with pytest.raises(ConfigurationError, match="AUDIT_BUCKET is required"):
        load_handler(AUDIT_BUCKET="")
