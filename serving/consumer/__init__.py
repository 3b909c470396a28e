"""The Kinesis consumer that runs in Lambda: decode, validate, featurize, score, record.

Every record that enters ends as exactly one of: a prediction, a fallback prediction flagged as such,
or a dead-letter entry. Nothing here imports Dagster, orchestration or the emulator: this package is
what `rtinfer package lambda` zips.
"""
