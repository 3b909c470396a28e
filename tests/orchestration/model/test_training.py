"""The temporal split: training never sees a later day nor a label that was not yet known."""

import numpy as np
import pandas as pd
import pytest

from orchestration.model.training import TrainingConfig, temporal_split, training_dataset
from serving.features import MS_PER_DAY


def test_split_is_temporal_and_uses_only_known_labels(history):
    features, events, labels = history
    config = TrainingConfig()
    split = temporal_split(training_dataset(features, events, labels), config)
    assert split.train["timestamp_ms"].max() < split.validation["timestamp_ms"].min()
    gap = split.test["timestamp_ms"].min() - split.validation["timestamp_ms"].max()
    assert gap >= config.gap_days * MS_PER_DAY - MS_PER_DAY
    assert split.test["timestamp_ms"].min() >= split.label_cutoff_ms
    trained_on = split.train[split.train["is_fraud"]]
    assert (trained_on["label_available_ms"] <= split.label_cutoff_ms).all()
    # Some frauds of the training weeks are charged back only after the cut-off: they count as legit.
    late = split.validation[(split.validation["label_available_ms"] > split.label_cutoff_ms)]
    assert late.merge(labels, on="request_id")["is_fraud_y"].any()
    assert not late["is_fraud"].any()


def test_split_refuses_data_that_is_too_short(history):
    features, events, labels = history
    with pytest.raises(ValueError, match="split needs 63 days of data"):
        temporal_split(training_dataset(features, events, labels), TrainingConfig(warmup_days=28))


def _daily(n_days: int, first_day: int = 20_000) -> pd.DataFrame:
    """Two transactions a day (one at 00:00, one at 23:59), every one a fraud known two days later."""
    ms = np.array(
        [[d * MS_PER_DAY, (d + 1) * MS_PER_DAY - 60_000] for d in range(first_day, first_day + n_days)]
    )
    ms = ms.ravel()
    return pd.DataFrame(
        {
            "timestamp_ms": ms,
            "is_fraud": True,
            "label_available_ms": ms + 2 * MS_PER_DAY,
            "day": (ms // MS_PER_DAY - first_day).astype(int),
        }
    )


def test_each_part_holds_exactly_its_days_and_nothing_later_leaks():
    config = TrainingConfig(warmup_days=2, train_days=5, validation_days=2, gap_days=1, test_days=3)
    split = temporal_split(_daily(11), config)
    assert sorted(set(split.train["day"])) == [2, 3, 4]
    assert sorted(set(split.validation["day"])) == [5, 6]
    assert sorted(set(split.test["day"])) == [8, 9, 10]  # day 7 is the gap
    assert split.label_cutoff_ms == (20_000 + 8) * MS_PER_DAY
    # Labels arrive two days after the fraud: only those that arrived by the cut-off count as frauds.
    known = pd.concat([split.train, split.validation])
    arrived = known["label_available_ms"] <= split.label_cutoff_ms
    assert (known["is_fraud"] == arrived).all()
    assert known.loc[known["day"] <= 5, "is_fraud"].all()
    assert known.loc[known["day"] == 6, "is_fraud"].tolist() == [True, False]  # 00:00 known, 23:59 not
    assert split.test["is_fraud"].all()  # the test week keeps its true labels


def test_validation_must_be_shorter_than_training():
    config = TrainingConfig(warmup_days=0, train_days=3, validation_days=3, gap_days=0, test_days=1)
    with pytest.raises(ValueError, match=r"validation_days \(3\) must be below train_days \(3\)"):
        temporal_split(_daily(5), config)


def test_training_config_names_a_bad_field():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingConfig(learning_rate=0)
    with pytest.raises(ValueError, match="train_days"):
        TrainingConfig(train_days=0)
