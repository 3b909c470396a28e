"""The model's inference script in SageMaker script-mode shape: model_fn, input_fn, predict_fn, output_fn.

Parsing (input_fn) knows nothing about the model; aligning rows to the feature schema happens in
predict_fn, which has the model. Every malformed input raises InvalidInputError naming the row,
column or field and the offending value, which the server turns into a 400.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from serving.artifact import ARTIFACT_SHA256_ENV, expected_digest_from_env, read_schema, verify_manifest
from serving.predictors import Predictor, XGBoostPredictor, load_predictor

if TYPE_CHECKING:
    import xgboost as xgb

CSV = "text/csv"
JSON = "application/json"
log = logging.getLogger(__name__)


class InvalidInputError(ValueError):
    """The request body cannot be turned into model rows; the message says why."""


@dataclass(frozen=True)
class LoadedModel:
    predictor: Predictor  # XGBoost, or the TL2cgen library for a compiled artifact
    features: list[str]
    threshold: float
    model_version: str

    @property
    def booster(self) -> xgb.Booster:
        """The XGBoost booster of an uncompiled artifact, for callers that predict with it directly."""
        if not isinstance(self.predictor, XGBoostPredictor):
            raise AttributeError(f"a {self.predictor.kind} model has no XGBoost booster")
        return self.predictor.booster


@dataclass(frozen=True)
class ParsedInput:
    """Either positional rows (a float matrix) or rows keyed by feature name."""

    matrix: np.ndarray | None = None
    records: list[dict] | None = None


@dataclass(frozen=True)
class Prediction:
    scores: np.ndarray
    model_version: str
    threshold: float  # the model's operating point: callers decide with the threshold it was tuned for


def model_fn(model_dir: str | Path, expected_sha256: str | None = None) -> LoadedModel:
    """Load the artifact after checking it in full (serving.artifact.verify_manifest) against the
    digest recorded in the registry: `expected_sha256`, or else the container's ARTIFACT_SHA256_ENV."""
    model_dir = Path(model_dir)
    expected = expected_sha256 or expected_digest_from_env()
    if expected is None:
        log.warning(
            "%s is not set: %s is checked against its own manifest only, which cannot tell a swapped "
            "artifact; deploy through the registry to pin it",
            ARTIFACT_SHA256_ENV,
            model_dir,
        )
    verified = verify_manifest(model_dir, expected)
    schema = read_schema(model_dir)
    return LoadedModel(
        load_predictor(model_dir, verified),
        list(schema["features"]),
        float(schema["threshold"]),
        str(schema["model_version"]),
    )


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def input_fn(body: bytes | bytearray | str, content_type: str | None) -> ParsedInput:
    media_type = _media_type(content_type)
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    if media_type == CSV:
        return ParsedInput(matrix=_parse_csv(text))
    if media_type == JSON:
        return _parse_json(text)
    raise InvalidInputError(f"unsupported content type {content_type!r}: send {CSV} or {JSON}")


def _parse_csv(text: str) -> np.ndarray:
    rows = [line.split(",") for line in text.splitlines() if line.strip()]
    if not rows:
        raise InvalidInputError("CSV body has no rows")
    try:
        matrix = np.array(rows, dtype=np.float64)
    except ValueError:
        _raise_csv_problem(rows)
        raise
    if not np.isfinite(matrix).all():
        r, c = np.argwhere(~np.isfinite(matrix))[0]
        raise InvalidInputError(f"CSV row {r} column {c}: {rows[r][c].strip()!r} is not a finite number")
    return matrix


def _raise_csv_problem(rows: list[list[str]]) -> None:
    """Name the first cell (or row) that made the fast conversion fail."""
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInputError(f"CSV row {r} has {len(row)} columns, row 0 has {width}")
        for c, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                raise InvalidInputError(f"CSV row {r} column {c}: {cell.strip()!r} is not a number") from None


def _parse_json(text: str) -> ParsedInput:
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"body is not valid JSON: {exc}") from None
    rows = payload.get("instances") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not rows:
        raise InvalidInputError(
            'JSON body must be {"instances": [...]} or a list of rows, with at least one row; '
            f"got {type(payload).__name__}"
        )
    if all(isinstance(row, dict) for row in rows):
        return ParsedInput(records=rows)
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidInputError(f"JSON row {r} must be a list of numbers or an object, got {row!r}")
        for c, value in enumerate(row):
            _check_number(value, f"JSON row {r} column {c}")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInputError(f"JSON row {r} has {len(row)} values, row 0 has {width}")
    return ParsedInput(matrix=np.array(rows, dtype=np.float64))


def _check_number(value: object, where: str) -> None:
    # bool is an int subclass; a true/false feature value is a caller bug, not a number
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{where}: {value!r} is not a finite number")


def _records_to_matrix(records: list[dict], features: list[str]) -> np.ndarray:
    known = set(features)
    matrix = np.empty((len(records), len(features)), dtype=np.float64)
    for r, record in enumerate(records):
        unknown = sorted(set(record) - known)
        if unknown:
            raise InvalidInputError(f"row {r}: unknown feature(s) {unknown}; the model expects {features}")
        for c, name in enumerate(features):
            if name not in record:
                raise InvalidInputError(f"row {r}: missing feature {name!r}")
            value = record[name]
            _check_number(value, f"row {r} feature {name!r}")
            matrix[r, c] = value
    return matrix


def predict_fn(data: ParsedInput, model: LoadedModel) -> Prediction:
    if data.records is not None:
        matrix = _records_to_matrix(data.records, model.features)
    else:
        matrix = data.matrix
        if matrix.shape[1] != len(model.features):
            raise InvalidInputError(
                f"rows have {matrix.shape[1]} columns, "
                f"the model expects {len(model.features)}: {model.features}"
            )
    return Prediction(model.predictor.predict(matrix), model.model_version, model.threshold)


def response_content_type(accept: str | None) -> str:
    """The media type output_fn will produce for an Accept header (JSON when the caller does not care)."""
    for part in (accept or "").split(","):
        media_type = _media_type(part)
        if media_type in (CSV, JSON):
            return media_type
        if media_type in ("", "*/*", "application/*"):
            return JSON
    raise InvalidInputError(f"unsupported Accept {accept!r}: ask for {CSV} or {JSON}")


def output_fn(prediction: Prediction, accept: str | None) -> tuple[bytes, str]:
    """(body, its content type): the container's server sends a tuple's second item as Content-Type
    (a bare body would go out with its framework's default type)."""
    scores = prediction.scores.tolist()
    media_type = response_content_type(accept)
    if media_type == CSV:
        return ("\n".join(repr(score) for score in scores) + "\n").encode(), CSV
    body = {
        "predictions": scores,
        "model_version": prediction.model_version,
        "threshold": prediction.threshold,
    }
    return json.dumps(body).encode(), JSON
