"""The dated price table: the repository's, a user's own through RTINFER_PRICE_TABLE, and a bad one
refused with the field it got wrong."""

from __future__ import annotations

import json

import pytest

from orchestration.monitoring.prices import (
    DEFAULT_PRICE_TABLE,
    PRICE_TABLE_ENV,
    PriceTableError,
    load_price_table,
)

PRICES = load_price_table(DEFAULT_PRICE_TABLE)


def test_the_repository_table_is_dated_sourced_and_has_every_unit():
    assert PRICES.region == "us-east-1" and PRICES.currency == "USD"
    assert PRICES.taken_on.isoformat() == "2026-12-01"
    for instance in ("ml.c5.large", "ml.c5.xlarge", "ml.m5.large", "ml.m5.xlarge"):
        assert PRICES.instance_hour(instance).source.startswith("https://aws.amazon.com/sagemaker/")
    assert set(PRICES.lambda_gb_second) == {"x86_64", "arm64"}


def test_a_users_own_table_is_read_from_the_variable(tmp_path, monkeypatch):
    data = json.loads(DEFAULT_PRICE_TABLE.read_text())
    data["region"] = "eu-west-1"
    data["dynamodb_write_request_unit"]["usd"] = 0.7625
    own = tmp_path / "prices.json"
    own.write_text(json.dumps(data))
    monkeypatch.setenv(PRICE_TABLE_ENV, str(own))
    table = load_price_table()
    assert table.region == "eu-west-1"
    assert table.dynamodb_write_request_unit.of(1_000_000) == pytest.approx(0.7625)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["kinesis_shard_hour"].update(usd=-1), "kinesis_shard_hour.usd"),
        (lambda d: d.pop("sqs_request"), "sqs_request"),
        (
            lambda d: d["sagemaker_instance_hour"]["ml.c5.large"].update(source="aws pricing"),
            "ml.c5.large.source",
        ),
        (lambda d: d.update(taken_on="last week"), "taken_on"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_a_bad_table_is_refused_naming_the_field(tmp_path, change, named):
    data = json.loads(DEFAULT_PRICE_TABLE.read_text())
    change(data)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PriceTableError, match=named.replace(".", r"\.")) as raised:
        load_price_table(path)
    assert str(path) in str(raised.value)


def test_a_missing_or_unreadable_table_says_so(tmp_path):
    with pytest.raises(PriceTableError, match="does not exist"):
        load_price_table(tmp_path / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(PriceTableError, match="not JSON"):
        load_price_table(broken)
