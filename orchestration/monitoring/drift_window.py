"""Which captured inference inputs belong to one day, and the reference they are compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.endpoint.probe import local_scores
from orchestration.monitoring.drift import ReferenceSample, reference_sample, sample_sha256
from orchestration.monitoring.reads import capture_keys, read_capture
from serving.features import FEATURE_NAMES


def day_capture_keys(s3, bucket: str, endpoint: str, variant: str, day: str) -> list[str]:
    """Capture files written on `day` (YYYY-MM-DD): SageMaker's layout puts the date in the key."""
    marker = "/" + day.replace("-", "/") + "/"
    return [key for key in capture_keys(s3, bucket, endpoint, variant) if marker in key]


def captured_inputs(s3, bucket: str, endpoint: str, variant: str, day: str) -> pd.DataFrame:
    frame = read_capture(s3, bucket, day_capture_keys(s3, bucket, endpoint, variant, day))
    return frame[[*FEATURE_NAMES, "score"]] if not frame.empty else frame


def scored_reference(features: pd.DataFrame, artifact_path: Path, n: int, seed: int) -> ReferenceSample:
    """A sample of the training features with the packaged model's scores (so score drift is measurable)."""
    sample = reference_sample(features[list(FEATURE_NAMES)], n, seed)
    frame = sample.frame.copy()
    frame["score"] = local_scores(artifact_path, frame[list(FEATURE_NAMES)].to_numpy(np.float64))
    # Hashed again with its scores, but the rows still came from the whole training set.
    return ReferenceSample(frame, sample_sha256(frame), seed, sample.source_rows)
