"""serving.consumer.scoring against the emulator's real endpoint: micro-batches, retries of transient
failures only, ModelError bisection to the bad row, and the circuit breaker in front of it all."""

import socket

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.scoring import Scored, Unscored, _is_bad_input, _is_transient, csv_line
from serving.features import FEATURE_NAMES

ROW = [1.0] * len(FEATURE_NAMES)


def _count_calls(runtime) -> list[str]:
    """Every InvokeEndpoint call the client makes (each of the scorer's attempts is one call)."""
    calls: list[str] = []
    runtime.meta.events.register(
        "before-call.sagemaker-runtime.InvokeEndpoint", lambda params, **_: calls.append(params["url_path"])
    )
    return calls


@pytest.fixture
def runtime(emulator):
    """A runtime client that makes one attempt per call, as the consumer's does."""
    return emulator.client("sagemaker-runtime", Config(retries={"mode": "standard", "total_max_attempts": 1}))


@pytest.fixture
def unreachable_runtime():
    """A runtime client for an address nothing listens on: every call is a connection error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(connect_timeout=1, retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.mark.parametrize("rows", [1, 50, 51, 120])
def test_micro_batches_respect_the_row_limit(make_scorer, rows):
    scorer = make_scorer(max_rows=50)
    assert [len(chunk) for chunk in scorer._chunks(["1"] * rows)] == (
        [50] * (rows // 50) + ([rows % 50] if rows % 50 else [])
    )


def test_micro_batches_respect_the_body_size_limit(make_scorer):
    scorer = make_scorer(max_rows=1000, max_bytes=100)
    lines = ["x" * 29] * 10  # 30 bytes each with its newline: three fit in 100
    assert [len(chunk) for chunk in scorer._chunks(lines)] == [3, 3, 3, 1]
    assert [len(chunk) for chunk in scorer._chunks(["x" * 500])] == [1]  # one too-big row still goes


def test_rows_are_scored_in_order_with_their_inference_position(make_scorer, runtime):
    calls = _count_calls(runtime)
    rows = [[amount] + [0.5] * (len(FEATURE_NAMES) - 1) for amount in (100.0, 900.0, 50.0)]
    results = make_scorer(runtime=runtime, max_rows=2).score(rows)
    assert all(isinstance(result, Scored) for result in results)
    assert results[1].score > 0.5 > results[0].score  # the model scores high when the amount is high
    assert {(r.model_version, r.variant, r.threshold) for r in results} == {
        ("consumer-test-v1", "production", 0.5)
    }
    assert [r.inference_row for r in results] == [0, 1, 0]  # two requests: rows 0-1, then row 0
    assert results[0].inference_id == results[1].inference_id != results[2].inference_id
    assert len(calls) == 2


def test_model_error_is_bisected_to_the_bad_row(make_scorer):
    rows = [list(ROW) for _ in range(16)]
    rows[11][3] = float("inf")
    breaker = CircuitBreaker(1, 60.0)
    results = make_scorer(breaker=breaker).score(rows)
    bad = [i for i, result in enumerate(results) if isinstance(result, Unscored)]
    assert bad == [11]
    assert results[11].kind == "model_error" and "not a finite number" in results[11].reason
    assert all(isinstance(results[i], Scored) for i in range(16) if i != 11)
    assert breaker.state == "CLOSED"  # the endpoint answered: bad data is not an outage


def test_a_missing_endpoint_is_unavailable_and_not_retried(make_scorer, runtime):
    calls = _count_calls(runtime)
    breaker = CircuitBreaker(2, 60.0)
    scorer = make_scorer("no-such-endpoint", breaker, runtime, attempts=4)
    results = scorer.score([ROW, ROW])
    assert [result.kind for result in results] == ["unavailable", "unavailable"]
    assert "no-such-endpoint" in results[0].reason
    assert len(calls) == 1  # a client error is never retried
    assert breaker.state == "CLOSED"  # one failure counted for the one request...
    scorer.score([ROW])
    assert breaker.state == "OPEN"  # ...and the second reaches the threshold


def test_connection_errors_are_retried_up_to_the_attempts(make_scorer, unreachable_runtime):
    calls = _count_calls(unreachable_runtime)
    results = make_scorer(runtime=unreachable_runtime, attempts=3).score([ROW])
    assert results[0].kind == "unavailable" and results[0].reason.startswith("EndpointConnectionError")
    assert len(calls) == 3


def test_no_retry_once_the_invocation_is_short_of_time(make_scorer, unreachable_runtime):
    calls = _count_calls(unreachable_runtime)
    scorer = make_scorer(runtime=unreachable_runtime, attempts=10, time_left_s=lambda: 1.0)
    assert scorer.score([ROW])[0].kind == "unavailable"
    assert len(calls) == 1  # the time kept back for writing results is not spent retrying


def test_an_open_circuit_answers_without_calling_the_endpoint(make_scorer, runtime, clock):
    calls = _count_calls(runtime)
    breaker = CircuitBreaker(2, 0.5, clock)
    down = make_scorer("no-such-endpoint", breaker, runtime)
    for _ in range(2):
        down.score([ROW])
    assert breaker.state == "OPEN" and len(calls) == 2

    results = down.score([ROW] * 3)
    assert results == [Unscored("unavailable", "circuit open for endpoint no-such-endpoint")] * 3
    assert len(calls) == 2


def test_after_the_cooldown_a_good_probe_closes_the_circuit(make_scorer, clock):
    breaker = CircuitBreaker(2, 0.5, clock)
    down = make_scorer("no-such-endpoint", breaker)
    for _ in range(2):
        down.score([ROW])
    assert breaker.state == "OPEN"

    clock.advance(0.5)  # the cool-down passes; the next call is a probe against a healthy endpoint
    assert breaker.state == "HALF_OPEN"
    assert isinstance(make_scorer(breaker=breaker).score([ROW])[0], Scored)
    assert breaker.state == "CLOSED"


def test_a_failed_probe_reopens_the_circuit(make_scorer, clock):
    breaker = CircuitBreaker(2, 0.5, clock)
    down = make_scorer("no-such-endpoint", breaker)
    for _ in range(2):
        down.score([ROW])
    clock.advance(0.5)
    assert down.score([ROW])[0].reason.startswith("ValidationError")  # the probe was sent, and failed
    assert breaker.state == "OPEN"


def _client_error(code: str, status: int, original_status: int | None = None) -> ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if original_status is not None:
        response["OriginalStatusCode"] = original_status
    return ClientError(response, "InvokeEndpoint")


@pytest.mark.parametrize(
    ("error", "transient", "bad_input"),
    [
        (_client_error("ThrottlingException", 400), True, False),
        (_client_error("ServiceUnavailable", 503), True, False),
        (_client_error("InternalFailure", 500), True, False),
        (_client_error("ValidationError", 400), False, False),
        (_client_error("ModelError", 424, original_status=400), False, True),  # the model refused the data
        (_client_error("ModelError", 424, original_status=500), False, False),  # the model broke: an outage
        (_client_error("ModelError", 424), False, False),
    ],
)
def test_error_classes(error, transient, bad_input):
    assert (_is_transient(error), _is_bad_input(error)) == (transient, bad_input)


def test_csv_lines_keep_every_digit():
    assert csv_line([0.1, 1, 1e-20, 123456789.123]) == "0.1,1.0,1e-20,123456789.123"
