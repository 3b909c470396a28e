"""Reading what the stream path produced: predictions from real audit objects and labels from a real
DynamoDB table come back with their typed columns, and data capture is read from S3 objects in
SageMaker's JSON Lines layout."""

import contextlib
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from emulator.sagemaker.capture import Exchange, capture_line
from emulator.sagemaker.fleet import CaptureSettings
from orchestration.monitoring.reads import capture_keys, read_capture, read_labels_of, read_predictions
from orchestration.stream.audit_log import AuditObjectError
from orchestration.stream.stack import ensure_bucket, ensure_table
from serving.features import FEATURE_NAMES

CAPTURE = CaptureSettings(
    sampling_percentage=100, bucket="", prefix="datacapture", capture_input=True, capture_output=True
)


def _prediction(request_id: str, fallback: bool, score: float | None, sequence: int = 1) -> dict:
    return {
        "request_id": request_id,
        "customer_id": "c1",
        "terminal_id": "t1",
        "amount": 12.5,
        "event_ms": 1_700_000_000_123,
        "arrival_ms": 1_700_000_000_200,
        "predicted_ms": 1_700_000_000_250,
        "latency_ms": 50,
        "shard_id": "shardId-000000000000",
        "sequence_number": f"{sequence:056d}",
        "score": score,
        "decision": "approve",
        "threshold": 0.5,
        "model_version": "v1",
        "variant": None if fallback else "production",
        "fallback": fallback,
        "fallback_reason": "endpoint timeout" if fallback else None,
    }


@pytest.fixture
def audit_bucket(emulator):
    s3, name = emulator.client("s3"), f"reads-{uuid.uuid4().hex[:8]}"
    ensure_bucket(s3, name)
    return s3, name


def test_predictions_come_back_with_integer_times_and_boolean_fallback(audit_bucket, store_audit_rows):
    s3, bucket = audit_bucket
    store_audit_rows(s3, bucket, [_prediction("r1", False, 0.25, 1), _prediction("r2", True, None, 2)])
    frame = read_predictions(s3, bucket).set_index("request_id").sort_index()
    assert list(frame.index) == ["r1", "r2"]
    for column in ("event_ms", "arrival_ms", "predicted_ms"):
        assert frame[column].dtype == np.int64
    assert frame.loc["r1", "event_ms"] == 1_700_000_000_123  # exact, no float rounding
    assert frame["fallback"].dtype == bool and frame["fallback"].tolist() == [False, True]
    assert frame.loc["r1", "score"] == 0.25 and frame.loc["r1", "amount"] == 12.5
    assert frame["latency_ms"].dtype == np.float64
    assert frame.loc["r1", "customer_id"] == "c1"
    assert frame.loc["r2", "fallback_reason"] == "endpoint timeout"
    assert frame.loc["r1", "fallback_reason"] is None


def test_a_request_sent_twice_reads_as_its_first_prediction_and_a_time_bounds_the_read(
    audit_bucket, store_audit_rows
):
    s3, bucket = audit_bucket
    store_audit_rows(s3, bucket, [_prediction("early", False, 0.1, 1) | {"arrival_ms": 1_600_000_000_000}])
    store_audit_rows(
        s3, bucket, [_prediction("resent", False, 0.2, 10), _prediction("other", False, 0.3, 11)]
    )
    later = _prediction("resent", False, 0.9, 20) | {"arrival_ms": 1_700_000_100_000}
    store_audit_rows(s3, bucket, [later, _prediction("other", False, 0.3, 11)])  # a repeated position, too
    frame = read_predictions(s3, bucket, since_ms=1_700_000_000_000)
    assert sorted(frame["request_id"]) == ["other", "resent"]
    assert frame.set_index("request_id").loc["resent", "score"] == 0.2  # the first one, in key order
    assert len(read_predictions(s3, bucket)) == 3  # from the beginning


def test_an_empty_bucket_reads_as_an_empty_frame_with_the_columns(audit_bucket):
    s3, bucket = audit_bucket
    frame = read_predictions(s3, bucket)
    assert frame.empty and {"request_id", "variant", "fallback", "latency_ms"} <= set(frame.columns)


def test_an_object_that_is_not_audit_rows_is_an_error_naming_its_key(audit_bucket):
    s3, bucket = audit_bucket
    key = "predictions/dt=2026-01-01/hour=00/1767225600000-shardId-000000000000-1"
    s3.put_object(Bucket=bucket, Key=key, Body=b"not gzip, not json")
    with pytest.raises(AuditObjectError, match=key):
        read_predictions(s3, bucket)


def test_labels_of_the_requests_asked_for_come_back_typed_past_one_batch_get(emulator):
    dynamodb = emulator.client("dynamodb")
    table = f"reads-labels-{uuid.uuid4().hex[:6]}"
    ensure_table(dynamodb, table, "request_id")
    for i in range(130):  # more than BatchGetItem's 100 keys
        dynamodb.put_item(
            TableName=table,
            Item={
                "request_id": {"S": f"id-{i:03d}"},
                "is_fraud": {"BOOL": i % 2 == 0},
                "event_ms": {"N": "1700000000001"},
                "label_available_ms": {"N": str(1_700_086_400_000 + i)},
            },
        )
    wanted = [f"id-{i:03d}" for i in range(0, 130, 1) if i != 7] + ["id-007", "no-label"]
    frame = read_labels_of(dynamodb, table, wanted).set_index("request_id").sort_index()
    assert list(frame.index) == [f"id-{i:03d}" for i in range(130)]  # a missing label is just absent
    assert frame["is_fraud"].dtype == bool and frame.loc["id-000", "is_fraud"]
    assert frame["label_available_ms"].dtype == np.int64
    assert frame.loc["id-129", "label_available_ms"] == 1_700_086_400_129
    empty = read_labels_of(dynamodb, table, ["nobody"])
    assert empty.empty and list(empty.columns) == ["request_id", "is_fraud", "event_ms", "label_available_ms"]


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
