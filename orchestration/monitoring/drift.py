"""Feature and score drift of live inference inputs against a versioned sample of the training features.

Evidently 0.7 does the per-column work (it picks the method per column type and size: for more than
1000 rows, normed Wasserstein distance for numbers and Jensen-Shannon distance for categories, both
effect sizes with a 0.1 threshold, so a large window does not flag trivial shifts the way a p-value
would). This module turns its report into one decision: OK, WARNING or CRITICAL by the share of
features that drifted, with a WARNING on its own when the model's score distribution moved or values
went missing, and keeps the HTML report for people to read.

The reference is a fixed-size random sample of the training features, identified by the sha256 of its
bytes: a drift result names the exact reference it was measured against, and a sensor can tell when
the reference changed under it (a new model was trained).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from serving.features import FEATURE_NAMES

SCORE = "score"
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_MISSING = "evidently:metric_v2:DatasetMissingValueCount"


class DriftLevel(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True)
class DriftConfig:
    # Shares of drifted features; with the 27 features, 3 drifted features warn and 9 are critical.
    warning_share: float = 0.1
    critical_share: float = 0.3  # retrain, and have someone look
    max_missing_share: float = 0.01  # share of missing cells above which the window warns

    def __post_init__(self) -> None:
        if not 0 < self.warning_share <= self.critical_share <= 1:
            raise ValueError(
                f"DriftConfig needs 0 < warning_share <= critical_share <= 1, got "
                f"warning_share={self.warning_share}, critical_share={self.critical_share}"
            )


@dataclass(frozen=True)
class ReferenceSample:
    frame: pd.DataFrame
    sha256: str
    seed: int
    source_rows: int

    def to_metadata(self) -> dict[str, str | int]:
        return {
            "reference_sha256": self.sha256,
            "reference_rows": len(self.frame),
            "seed": self.seed,
            "source_rows": self.source_rows,
        }


@dataclass(frozen=True)
class DriftResult:
    level: DriftLevel
    reasons: tuple[str, ...]
    drifted_share: float
    per_feature: pd.DataFrame  # feature (index), method, threshold, drift_score, drifted
    score_drift: float | None
    score_drifted: bool | None
    missing_share: float
    html_path: Path | None
    seconds: float

    @property
    def drifted_features(self) -> list[str]:
        return self.per_feature.index[self.per_feature["drifted"]].tolist()

    def to_metadata(self) -> dict[str, float | str]:
        metadata: dict[str, float | str] = {
            "level": self.level.value,
            "drifted_share": self.drifted_share,
            "n_drifted": float(len(self.drifted_features)),
            "drifted_features": ", ".join(self.drifted_features),
            "missing_share": self.missing_share,
            "seconds": self.seconds,
        }
        if self.score_drift is not None:
            metadata["score_drift"] = self.score_drift
        return metadata


def _columns_of(frame: pd.DataFrame, what: str) -> list[str]:
    missing = [name for name in FEATURE_NAMES if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack feature column(s) {missing}")
    return list(FEATURE_NAMES) + ([SCORE] if SCORE in frame.columns else [])


def sample_sha256(frame: pd.DataFrame) -> str:
    """sha256 of the column names and the float64 values, row-major: the sample's identity."""
    digest = hashlib.sha256("\x1f".join(frame.columns).encode())
    digest.update(np.ascontiguousarray(frame.to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


def reference_sample(features: pd.DataFrame, n: int, seed: int) -> ReferenceSample:
    """A reproducible random sample of n rows of the features (all rows if there are fewer)."""
    if n < 1:
        raise ValueError(f"reference sample size n must be >= 1, got {n}")
    columns = _columns_of(features, "features")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(features), size=min(n, len(features)), replace=False))
    frame = features[columns].iloc[rows].reset_index(drop=True).astype(np.float64)
    return ReferenceSample(frame, sample_sha256(frame), seed, len(features))


def _definition(reference: pd.DataFrame, columns: list[str]):
    """0/1 indicator columns are categories (Jensen-Shannon), the rest numbers (Wasserstein)."""
    from evidently import DataDefinition

    binary = [c for c in columns if c != SCORE and reference[c].dropna().isin((0.0, 1.0)).all()]
    return DataDefinition(
        numerical_columns=[c for c in columns if c not in binary], categorical_columns=binary
    )


def _parse(snapshot: dict) -> tuple[pd.DataFrame, float]:
    """Per-column drift (from the ValueDrift metrics and their tests) and the missing-cell share."""
    drifted = {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in snapshot["tests"]
        if test["metric_config"]["params"]["type"] == _VALUE_DRIFT
    }
    rows, missing_share = [], 0.0
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"] == _VALUE_DRIFT:
            column = config["column"]
            rows.append((column, config["method"], config["threshold"], metric["value"], drifted[column]))
        elif config["type"] == _MISSING:
            missing_share = float(metric["value"]["share"])
    table = pd.DataFrame(rows, columns=["feature", "method", "threshold", "drift_score", "drifted"])
    return table.set_index("feature"), missing_share


def drift_level(
    drifted_share: float, score_drifted: bool | None, missing_share: float, config: DriftConfig
) -> tuple[DriftLevel, tuple[str, ...]]:
    """The level of one evaluation and the reasons for it."""
    reasons = []
    if drifted_share >= config.warning_share:
        reasons.append(f"{drifted_share:.0%} of features drifted")
    if score_drifted:
        reasons.append("score distribution drifted")
    if missing_share > config.max_missing_share:
        reasons.append(f"{missing_share:.1%} of values missing")
    if drifted_share >= config.critical_share:
        return DriftLevel.CRITICAL, tuple(reasons)
    return (DriftLevel.WARNING if reasons else DriftLevel.OK), tuple(reasons)


def evaluate_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig | None = None,
    html_path: Path | None = None,
) -> DriftResult:
    """Drift of `current` (inference inputs: FEATURE_NAMES and optionally "score") from `reference`.

    The score column is compared when both frames have it. With `html_path`, Evidently's report is
    saved there.
    """
    config = config or DriftConfig()
    columns = _columns_of(current, "current window")
    if columns != _columns_of(reference, "reference"):
        raise ValueError(
            f"score column in one frame only: reference has {SCORE in reference.columns}, "
            f"current has {SCORE in current.columns}"
        )
    if current.empty or reference.empty:
        raise ValueError(f"empty frame: reference {len(reference)} rows, current {len(current)} rows")

    # Imported here, not at the top: Evidently takes seconds to import, and every process that loads
    # the code location (each Dagster run, the UI's code server) would pay it without checking drift.
    from evidently import Dataset, Report
    from evidently.metrics import DatasetMissingValueCount, ValueDrift
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    definition = _definition(reference, columns)
    # The report's headline ("Dataset Drift is detected") uses the product's CRITICAL share, so the
    # HTML a person opens agrees with the level this function returns.
    preset = DataDriftPreset(columns=list(FEATURE_NAMES), drift_share=config.critical_share)
    metrics = [preset, DatasetMissingValueCount()]
    if SCORE in columns:
        metrics.append(ValueDrift(column=SCORE))
    snapshot = Report(metrics, include_tests=True).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    table, missing_share = _parse(snapshot.dict())

    score_row = table.loc[SCORE] if SCORE in table.index else None
    per_feature = table.drop(index=SCORE, errors="ignore")
    drifted_share = float(per_feature["drifted"].mean())
    score_drifted = None if score_row is None else bool(score_row["drifted"])
    level, reasons = drift_level(drifted_share, score_drifted, missing_share, config)
    return DriftResult(
        level=level,
        reasons=reasons,
        drifted_share=drifted_share,
        per_feature=per_feature,
        score_drift=None if score_row is None else float(score_row["drift_score"]),
        score_drifted=score_drifted,
        missing_share=missing_share,
        html_path=html_path,
        seconds=time.perf_counter() - started,
    )
