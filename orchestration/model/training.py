"""Temporal split, XGBoost training and evaluation of the fraud model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field

from orchestration.model.evaluation import best_f1_threshold, evaluate
from serving.features import FEATURE_NAMES, MS_PER_DAY


class TrainingConfig(BaseModel):
    """Split and booster settings; days count from the first simulated day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warmup_days: int = Field(14, ge=0, description="first days left out: 30-day windows are not yet full")
    train_days: int = Field(21, ge=1)
    validation_days: int = Field(
        7, ge=1, description="last part of training, for early stopping and threshold"
    )
    gap_days: int = Field(7, ge=0, description="label delay between the training cut-off and the test week")
    test_days: int = Field(7, ge=1)
    max_depth: int = Field(5, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    n_rounds: int = Field(400, ge=1)
    early_stopping_rounds: int = Field(30, ge=1)
    top_k_cards: int = Field(100, ge=1)
    seed: int = 0
    n_threads: int = Field(2, ge=1)


@dataclass(frozen=True)
class TemporalSplit:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    label_cutoff_ms: int  # labels known at this moment are all the training set may use


@dataclass
class TrainedModel:
    booster: xgb.Booster
    threshold: float
    metrics: dict[str, float]
    validation_metrics: dict[str, float]
    best_iteration: int


def temporal_split(dataset: pd.DataFrame, config: TrainingConfig) -> TemporalSplit:
    """`dataset`: features joined with labels (is_fraud, scenario, label_available_ms, customer_id)."""
    start_day = int(dataset["timestamp_ms"].min() // MS_PER_DAY)
    day = dataset["timestamp_ms"] // MS_PER_DAY - start_day
    train_start = config.warmup_days
    validation_start = train_start + config.train_days - config.validation_days
    train_end = train_start + config.train_days
    test_start = train_end + config.gap_days
    test_end = test_start + config.test_days
    last_day = int(day.max())
    if test_end - 1 > last_day:
        raise ValueError(
            f"split needs {test_end} days of data (warmup {config.warmup_days} + train {config.train_days} + "
            f"gap {config.gap_days} + test {config.test_days}) but the data has {last_day + 1}"
        )
    if config.validation_days >= config.train_days:
        raise ValueError(
            f"validation_days ({config.validation_days}) must be below train_days ({config.train_days})"
        )
    label_cutoff_ms = (start_day + test_start) * MS_PER_DAY
    known = dataset["is_fraud"] & (dataset["label_available_ms"] <= label_cutoff_ms)
    with_known_labels = dataset.assign(is_fraud=known)
    return TemporalSplit(
        train=with_known_labels[(day >= train_start) & (day < validation_start)],
        validation=with_known_labels[(day >= validation_start) & (day < train_end)],
        test=dataset[(day >= test_start) & (day < test_end)],
        label_cutoff_ms=label_cutoff_ms,
    )


def _matrix(frame: pd.DataFrame) -> xgb.DMatrix:
    return xgb.DMatrix(
        frame[list(FEATURE_NAMES)].to_numpy(np.float32),
        label=frame["is_fraud"].to_numpy(float),
        feature_names=list(FEATURE_NAMES),
    )


def predict(booster: xgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    return booster.inplace_predict(frame[list(FEATURE_NAMES)].to_numpy(np.float32))


def train_model(split: TemporalSplit, config: TrainingConfig) -> TrainedModel:
    params = {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "max_depth": config.max_depth,
        "eta": config.learning_rate,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "min_child_weight": 2,
        "seed": config.seed,
        "nthread": config.n_threads,
    }
    validation = _matrix(split.validation)
    booster = xgb.train(
        params,
        _matrix(split.train),
        num_boost_round=config.n_rounds,
        evals=[(validation, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    # Keep only the trees early stopping chose, so every later predict uses the same model.
    booster = booster[: booster.best_iteration + 1]
    validation_scored = split.validation.assign(score=predict(booster, split.validation))
    threshold = best_f1_threshold(
        validation_scored["is_fraud"].to_numpy(bool), validation_scored["score"].to_numpy()
    )
    test_scored = split.test.assign(score=predict(booster, split.test))
    return TrainedModel(
        booster=booster,
        threshold=threshold,
        metrics=evaluate(test_scored, threshold, config.top_k_cards),
        validation_metrics=evaluate(validation_scored, threshold, config.top_k_cards),
        best_iteration=int(booster.num_boosted_rounds()),
    )


def training_dataset(features: pd.DataFrame, events: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Features joined to the label and the card each transaction was made with."""
    return features.merge(
        labels[["request_id", "is_fraud", "scenario", "label_available_ms"]], on="request_id"
    ).merge(events[["request_id", "customer_id"]], on="request_id")
