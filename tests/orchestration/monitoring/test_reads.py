"""Reading what the stream path produced: predictions and labels from real DynamoDB tables come back with
their typed columns, and data capture is read from S3 objects in SageMaker's JSON Lines layout."""

import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from emulator.sagemaker.capture import Exchange, capture_line
from emulator.sagemaker.fleet import CaptureSettings
from orchestration.monitoring.reads import capture_keys, read_capture, read_labels, read_predictions
from orchestration.stream.stack import ensure_table
from serving.consumer.sinks import write_predictions
from serving.features import FEATURE_NAMES

CAPTURE = CaptureSettings(
    sampling_percentage=100, bucket="", prefix="datacapture", capture_input=True, capture_output=True
)


def _prediction(request_id: str, fallback: bool, score: float | None) -> dict:
    return {
        "request_id": request_id,
        "customer_id": "c1",
        "amount": 12.5,
        "event_ms": 1_700_000_000_123,
        "arrival_ms": 1_700_000_000_200,
        "predicted_ms": 1_700_000_000_250,
        "score": score,
        "fallback": fallback,
        "fallback_reason": "endpoint timeout" if fallback else None,
    }


def test_predictions_come_back_with_integer_times_and_boolean_fallback(emulator):
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, "reads-predictions", "request_id")
    assert not write_predictions(
        dynamodb, "reads-predictions", [_prediction("r1", False, 0.25), _prediction("r2", True, None)]
    )
    frame = read_predictions(dynamodb, "reads-predictions").set_index("request_id").sort_index()
    assert list(frame.index) == ["r1", "r2"]
    for column in ("event_ms", "arrival_ms", "predicted_ms"):
        assert frame[column].dtype == np.int64
    assert frame.loc["r1", "event_ms"] == 1_700_000_000_123  # exact, no float rounding
    assert frame["fallback"].dtype == bool and frame["fallback"].tolist() == [False, True]
    assert frame.loc["r1", "score"] == 0.25 and frame.loc["r1", "amount"] == 12.5
    assert frame.loc["r1", "customer_id"] == "c1"
    assert frame.loc["r2", "fallback_reason"] == "endpoint timeout"
    assert frame.loc["r1", "fallback_reason"] is None  # a NULL attribute reads as None


def test_labels_come_back_typed(emulator):
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, "reads-labels", "request_id")
    for request_id, fraud in (("a", True), ("b", False)):
        dynamodb.put_item(
            TableName="reads-labels",
            Item={
                "request_id": {"S": request_id},
                "is_fraud": {"BOOL": fraud},
                "event_ms": {"N": "1700000000001"},
                "label_available_ms": {"N": "1700086400001"},
            },
        )
    frame = read_labels(dynamodb, "reads-labels").set_index("request_id").sort_index()
    assert frame["is_fraud"].dtype == bool and frame["is_fraud"].tolist() == [True, False]
    assert frame["label_available_ms"].dtype == np.int64
    assert frame.loc["a", "label_available_ms"] == 1_700_086_400_001


def test_an_empty_table_reads_as_an_empty_frame(emulator):
    dynamodb = emulator.client("dynamodb")
    ensure_table(dynamodb, "reads-empty", "request_id")
    assert read_predictions(dynamodb, "reads-empty").empty
    assert read_labels(dynamodb, "reads-empty").empty


@pytest.fixture
def bucket(emulator):
    s3 = emulator.client("s3")
    name = emulator.settings.bucket
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    return s3, name


def _features(seed: float) -> str:
    return ",".join(str(seed + i) for i in range(len(FEATURE_NAMES)))


def _line(at: datetime, rows: list[str], scores: list[float], inference_id: str | None, **kw) -> str:
    exchange = Exchange(
        request_body="\n".join(rows).encode(),
        request_type=kw.get("request_type", "text/csv"),
        response_body=json.dumps({"predictions": scores, "threshold": 0.5, "model_version": "v3"}).encode(),
        response_type="application/json",
        inference_id=inference_id,
        at=at,
    )
    return capture_line(exchange, kw.get("settings", CAPTURE))


def _put(s3, bucket: str, endpoint: str, variant: str, at: datetime, name: str, lines: list[str]) -> str:
    key = f"datacapture/{endpoint}/{variant}/{at:%Y/%m/%d/%H}/{name}.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
    return key


def test_capture_keys_list_one_variant_in_key_order_and_resume_after_a_key(bucket):
    s3, name = bucket
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    later = datetime(2026, 3, 1, 11, tzinfo=UTC)
    second = _put(s3, name, "ep-keys", "blue", later, "00-00-000-b", [_line(later, ["1"], [0.1], "x")])
    first = _put(s3, name, "ep-keys", "blue", at, "00-00-000-a", [_line(at, ["1"], [0.1], "y")])
    _put(s3, name, "ep-keys", "green", at, "00-00-000-c", [_line(at, ["1"], [0.1], "z")])
    _put(s3, name, "ep-keys-other", "blue", at, "00-00-000-d", [_line(at, ["1"], [0.1], "w")])
    assert capture_keys(s3, name, "ep-keys", "blue") == [first, second]
    assert capture_keys(s3, name, "ep-keys", "blue", start_after=first) == [second]
    assert capture_keys(s3, name, "ep-keys", "absent") == []


def test_capture_keys_follow_continuation_pages(bucket):
    s3, name = bucket
    at = datetime(2026, 3, 2, 0, tzinfo=UTC)
    keys = [
        _put(s3, name, "ep-many", "blue", at, f"{i:04d}", [_line(at, ["1"], [0.1], str(i))])
        for i in range(1005)  # past ListObjectsV2's 1000-key page
    ]
    assert capture_keys(s3, name, "ep-many", "blue") == keys


def test_read_capture_gives_one_row_per_scored_row(bucket):
    s3, name = bucket
    at = datetime(2026, 3, 3, 9, 30, 15, 250_000, tzinfo=UTC)
    lines = [
        _line(at, [_features(0), _features(100)], [0.9, 0.2], "req-1"),
        _line(at, [_features(7)], [0.4], None),
        # not CSV input, and no output captured: neither can be read as scored rows
        _line(at, ['{"a": 1}'], [0.5], "json", request_type="application/json"),
        _line(at, [_features(1)], [0.5], "no-output", settings=replace(CAPTURE, capture_output=False)),
    ]
    key = _put(s3, name, "ep-read", "blue", at, "30-15-250-a", lines)
    frame = read_capture(s3, name, [key])
    assert len(frame) == 3
    assert frame["inference_id"].tolist() == ["req-1", "req-1", None]
    assert frame["inference_row"].tolist() == [0, 1, 0]
    assert frame["score"].tolist() == [0.9, 0.2, 0.4]
    assert (frame["captured_at"] == at).all()
    assert set(frame["threshold"]) == {0.5} and set(frame["model_version"]) == {"v3"}
    assert frame.loc[1, FEATURE_NAMES[0]] == 100.0
    assert frame.loc[1, FEATURE_NAMES[-1]] == 100.0 + len(FEATURE_NAMES) - 1


def test_read_capture_of_no_keys_is_empty(bucket):
    s3, name = bucket
    assert read_capture(s3, name, []).empty
