"""One day's captured inputs from the emulator's S3 (SageMaker's capture layout puts the date in the key),
and the scored reference sample they are compared with."""

import contextlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from emulator.sagemaker.capture import Exchange, capture_line
from emulator.sagemaker.fleet import CaptureSettings
from orchestration.model.artifact import pack_model_artifact
from orchestration.monitoring.drift_window import captured_inputs, day_capture_keys, scored_reference
from serving.features import FEATURE_NAMES

CAPTURE = CaptureSettings(100, "", "datacapture", capture_input=True, capture_output=True)
N = len(FEATURE_NAMES)


@pytest.fixture
def s3(emulator):
    client = emulator.client("s3")
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=emulator.settings.bucket)
    return client, emulator.settings.bucket


def _put_capture(s3, bucket, endpoint, at: datetime, rows: list[list[float]], scores: list[float]) -> str:
    exchange = Exchange(
        request_body="\n".join(",".join(map(str, row)) for row in rows).encode(),
        request_type="text/csv",
        response_body=json.dumps({"predictions": scores, "threshold": 0.5, "model_version": "v1"}).encode(),
        response_type="application/json",
        inference_id=None,
        at=at,
    )
    key = f"datacapture/{endpoint}/blue/{at:%Y/%m/%d/%H}/{at:%M-%S}-000-x.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=(capture_line(exchange, CAPTURE) + "\n").encode())
    return key


def test_day_capture_keys_keep_only_that_days_files(s3):
    client, bucket = s3
    day = datetime(2026, 4, 2, 23, 59, tzinfo=UTC)
    before = _put_capture(client, bucket, "dw-days", datetime(2026, 4, 1, 23, tzinfo=UTC), [[0] * N], [0.1])
    on_day = [
        _put_capture(client, bucket, "dw-days", datetime(2026, 4, 2, 0, tzinfo=UTC), [[0] * N], [0.1]),
        _put_capture(client, bucket, "dw-days", day, [[0] * N], [0.1]),
    ]
    after = _put_capture(client, bucket, "dw-days", datetime(2026, 4, 3, 0, tzinfo=UTC), [[0] * N], [0.1])
    assert day_capture_keys(client, bucket, "dw-days", "blue", "2026-04-02") == on_day
    assert day_capture_keys(client, bucket, "dw-days", "blue", "2026-04-01") == [before]
    assert day_capture_keys(client, bucket, "dw-days", "blue", "2026-04-03") == [after]
    assert day_capture_keys(client, bucket, "dw-days", "blue", "2026-05-02") == []


def test_captured_inputs_are_the_feature_columns_and_the_score(s3):
    client, bucket = s3
    at = datetime(2026, 4, 5, 12, tzinfo=UTC)
    rows = [[float(i + j) for j in range(N)] for i in range(3)]
    _put_capture(client, bucket, "dw-inputs", at, rows, [0.1, 0.5, 0.9])
    _put_capture(client, bucket, "dw-inputs", datetime(2026, 4, 6, 1, tzinfo=UTC), [[7.0] * N], [0.3])
    frame = captured_inputs(client, bucket, "dw-inputs", "blue", "2026-04-05")
    assert list(frame.columns) == [*FEATURE_NAMES, "score"]
    np.testing.assert_array_equal(frame[list(FEATURE_NAMES)].to_numpy(), np.array(rows))
    assert frame["score"].tolist() == [0.1, 0.5, 0.9]


def test_a_day_without_capture_gives_an_empty_frame(s3):
    client, bucket = s3
    assert captured_inputs(client, bucket, "dw-none", "blue", "2026-04-05").empty


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, N))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=x[:, 0] > 0), 6
    )
    path = tmp_path_factory.mktemp("drift-window") / "dw-v1" / "model.tar.gz"
    return booster, pack_model_artifact(booster, list(FEATURE_NAMES), 0.5, "dw-v1", {}, path)


def _features(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(rng.normal(size=(n, N)), columns=list(FEATURE_NAMES))
    frame["label"] = 1.0  # not a feature: left out of the sample
    return frame


def test_scored_reference_samples_features_with_the_packaged_models_scores(model):
    booster, packed = model
    features = _features(400)
    reference = scored_reference(features, packed.path, 100, seed=3)
    assert list(reference.frame.columns) == [*FEATURE_NAMES, "score"]
    assert len(reference.frame) == 100
    expected = booster.inplace_predict(reference.frame[list(FEATURE_NAMES)].to_numpy(np.float32))
    np.testing.assert_allclose(reference.frame["score"], expected, rtol=1e-6)
    # the sampled rows really come from the features
    merged = reference.frame.merge(features, on=list(FEATURE_NAMES))
    assert len(merged) == 100
    assert reference.source_rows == len(features)  # the whole training set it was drawn from


def test_scored_reference_is_reproducible_per_seed(model):
    _, packed = model
    features = _features(400)
    first = scored_reference(features, packed.path, 50, seed=1)
    again = scored_reference(features, packed.path, 50, seed=1)
    other = scored_reference(features, packed.path, 50, seed=2)
    assert first.sha256 == again.sha256
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert other.sha256 != first.sha256


def test_scored_reference_refuses_a_sample_size_below_one(model):
    _, packed = model
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        scored_reference(_features(10), packed.path, 0, seed=1)
