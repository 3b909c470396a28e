"""Read what the stream path produced, as DataFrames: predictions, labels, and data capture.

Everything comes through boto3 (S3 List/Get of the audit objects and capture files, DynamoDB
BatchGetItem of the labels needed), so the same code reads AWS or the emulator.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import numpy as np
import pandas as pd

from orchestration.endpoint.history import DeploymentHistory, RolloutResult
from orchestration.settings import Settings
from orchestration.stream.accounting import CLOCK_SLACK_MS
from orchestration.stream.audit_log import AuditReader, unique_requests
from serving.consumer.audit import ROW_FIELDS
from serving.features import FEATURE_NAMES

_BATCH_GET_KEYS = 100  # BatchGetItem's limit per call
_BATCH_GET_ATTEMPTS = 8


def _plain(value: dict):
    ((kind, raw),) = value.items()
    if kind == "N":
        return float(raw)
    if kind == "NULL":
        return None
    return raw  # S and BOOL come back as they are


def _items_frame(items: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{name: _plain(value) for name, value in item.items()} for item in items])


def predictions_frame(rows: list[dict]) -> pd.DataFrame:
    """Audit rows as the DataFrame the statistics code reads; an empty read still has the columns."""
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(ROW_FIELDS))
    for column in ("event_ms", "arrival_ms", "predicted_ms"):
        frame[column] = frame[column].astype(np.int64)
    for column in ("amount", "latency_ms", "score"):
        frame[column] = frame[column].astype(np.float64)
    frame["fallback"] = frame["fallback"].astype(bool)
    return frame


def read_predictions(
    s3, audit_bucket: str, since_ms: int = 0, reader: AuditReader | None = None
) -> pd.DataFrame:
    """One row per request predicted at or after `since_ms` (the first prediction of a request a
    producer sent twice), from the audit objects of the batches since then."""
    reader = reader or AuditReader(s3, audit_bucket)
    rows = reader.rows_since(since_ms - CLOCK_SLACK_MS if since_ms else 0)
    return predictions_frame(unique_requests(row for row in rows if row["predicted_ms"] >= since_ms))


def deployment_started_ms(deployment: RolloutResult | None) -> int:
    """When a deployment was recorded, in epoch ms (0 for none: read from the beginning)."""
    return int(datetime.fromisoformat(deployment.at).timestamp() * 1000) if deployment else 0


def read_current_predictions(s3, settings: Settings, endpoint: str, audit_bucket: str) -> pd.DataFrame:
    """The predictions since the endpoint's current deployment: what its monitoring is about."""
    since = deployment_started_ms(DeploymentHistory(s3, settings, endpoint).current())
    return read_predictions(s3, audit_bucket, since)


LABEL_TABLE_COLUMNS = {
    "request_id": object,
    "is_fraud": bool,
    "event_ms": np.int64,
    "label_available_ms": np.int64,
}


def read_labels_of(dynamodb, table: str, request_ids) -> pd.DataFrame:
    """The labels of these request ids only (BatchGetItem, 100 keys a call; unprocessed keys are sent
    again with backoff, and a label still unread after that is an error, not a missing label)."""
    ids = sorted(set(request_ids))
    items = []
    for start in range(0, len(ids), _BATCH_GET_KEYS):
        keys = [{"request_id": {"S": request_id}} for request_id in ids[start : start + _BATCH_GET_KEYS]]
        for attempt in range(_BATCH_GET_ATTEMPTS):
            response = dynamodb.batch_get_item(RequestItems={table: {"Keys": keys}})
            items += response.get("Responses", {}).get(table, [])
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not keys:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        else:
            raise RuntimeError(f"labels table {table}: {len(keys)} keys still unprocessed after retries")
    return labels_frame(_items_frame(items))


def labels_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Label items as a typed frame; with no label, an empty frame that still has the columns (so joins
    work)."""
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
