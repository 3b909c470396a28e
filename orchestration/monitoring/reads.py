"""Read what the stream path produced, as DataFrames: predictions, labels, and data capture.

Everything comes through boto3 (DynamoDB Scan, S3 List/Get), so the same code reads AWS or the emulator.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd

from orchestration.stream.accounting import scan_all
from serving.features import FEATURE_NAMES


def _plain(value: dict):
    ((kind, raw),) = value.items()
    if kind == "N":
        return float(raw)
    if kind == "NULL":
        return None
    return raw  # S and BOOL come back as they are


def read_table(dynamodb, table: str) -> pd.DataFrame:
    items = scan_all(dynamodb, table)
    return pd.DataFrame([{name: _plain(value) for name, value in item.items()} for item in items])


def read_predictions(dynamodb, table: str) -> pd.DataFrame:
    frame = read_table(dynamodb, table)
    if frame.empty:
        return frame
    for column in ("event_ms", "arrival_ms", "predicted_ms"):
        frame[column] = frame[column].astype(np.int64)
    frame["fallback"] = frame["fallback"].astype(bool)
    return frame


LABEL_TABLE_COLUMNS = {
    "request_id": object,
    "is_fraud": bool,
    "event_ms": np.int64,
    "label_available_ms": np.int64,
}


def read_labels(dynamodb, table: str) -> pd.DataFrame:
    """The labels table; with no label yet, an empty frame that still has the columns (so joins work)."""
    frame = read_table(dynamodb, table)
    if frame.empty:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in LABEL_TABLE_COLUMNS.items()})
    frame["is_fraud"] = frame["is_fraud"].astype(bool)
    for column in ("event_ms", "label_available_ms"):
        frame[column] = frame[column].astype(np.int64)
    return frame


def capture_keys(s3, bucket: str, endpoint: str, variant: str, start_after: str | None = None) -> list[str]:
    """Capture files of one variant in key order (SageMaker's layout sorts by time)."""
    prefix = f"datacapture/{endpoint}/{variant}/"
    keys, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix, **({"StartAfter": start_after} if start_after else {})}
        page = s3.list_objects_v2(**kwargs, **({"ContinuationToken": token} if token else {}))
        keys += [entry["Key"] for entry in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def read_capture(s3, bucket: str, keys: list[str]) -> pd.DataFrame:
    """One row per scored row: inference_id, inference_row, captured_at, score and the feature columns."""
    rows = []
    for key in keys:
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines():
            record = json.loads(line)
            data = record["captureData"]
            if data.get("endpointInput", {}).get("encoding") != "CSV" or "endpointOutput" not in data:
                continue
            output = json.loads(data["endpointOutput"]["data"])
            scores = output.get("predictions", [])
            metadata = record["eventMetadata"]
            at = datetime.fromisoformat(metadata["inferenceTime"].replace("Z", "+00:00"))
            for row, (features, score) in enumerate(
                zip(data["endpointInput"]["data"].splitlines(), scores, strict=False)
            ):
                values = [float(value) for value in features.split(",")]
                rows.append(
                    {
                        "inference_id": metadata.get("inferenceId"),
                        "inference_row": row,
                        "captured_at": at,
                        "score": float(score),
                        "threshold": output.get("threshold"),
                        "model_version": output.get("model_version"),
                        **dict(zip(FEATURE_NAMES, values, strict=False)),
                    }
                )
    return pd.DataFrame(rows)
