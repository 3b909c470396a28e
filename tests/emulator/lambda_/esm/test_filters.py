"""Lambda's filter-pattern syntax as the Kinesis event-source mapping applies it to record data."""

from __future__ import annotations

import json

import pytest

from emulator.lambda_.esm.filters import check_filter_criteria, record_filter
from emulator.protocol.errors import AwsError

ORDER = {"record": 7, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000, "tags": ["a", "b"]}}


def _matches(*patterns: dict, data: object = ORDER) -> bool:
    criteria = check_filter_criteria({"Filters": [{"Pattern": json.dumps(p)} for p in patterns]})
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return record_filter(criteria).matches(raw)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"order": {"type": ["buy"]}}, True),  # exact value
        ({"order": {"type": ["sell"]}}, False),
        ({"order": {"type": ["sell", "buy"]}}, True),  # OR within a field
        ({"order": {"type": ["buy"], "stock": ["OTHER"]}}, False),  # AND across fields
        ({"order": {"stock": [{"prefix": "ANY"}]}}, True),
        ({"order": {"stock": [{"prefix": "NONE"}]}}, False),
        ({"order": {"stock": [{"suffix": "CO"}]}}, True),
        ({"order": {"stock": [{"equals-ignore-case": "anyco"}]}}, True),
        ({"order": {"quantity": [{"numeric": [">", 500, "<=", 1000]}]}}, True),
        ({"order": {"quantity": [{"numeric": ["<", 1000]}]}}, False),
        ({"order": {"quantity": [1000.0]}}, True),  # numbers compare numerically
        ({"order": {"quantity": ["1000"]}}, False),  # a string is not the number
        ({"order": {"type": [{"exists": True}]}}, True),
        ({"order": {"missing": [{"exists": False}]}}, True),
        ({"order": {"type": [{"exists": False}]}}, False),
        ({"order": {"type": [{"anything-but": ["sell", "hold"]}]}}, True),
        ({"order": {"type": [{"anything-but": "buy"}]}}, False),
        ({"order": {"stock": [{"anything-but": {"prefix": "ANY"}}]}}, False),
        ({"order": {"missing": [{"anything-but": "x"}]}}, False),  # anything-but needs the field
        ({"order": {"tags": ["b"]}}, True),  # any element of a list
        ({"record": [{"numeric": ["=", 7]}]}, True),
        ({"nested": {"deeper": [{"exists": False}]}}, True),
    ],
)
def test_each_rule(rule, expected):
    assert _matches({"data": rule}) is expected


def test_filters_are_ored_and_non_json_data_matches_nothing():
    sell, buy = {"data": {"order": {"type": ["sell"]}}}, {"data": {"order": {"type": ["buy"]}}}
    assert _matches(sell, buy)
    assert not _matches(sell)
    assert not _matches(buy, data=b"not json at all")
    assert not _matches(buy, data=b"\xff\xfe")
    assert not _matches(buy, data=["a", "list"])


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ('{"kinesis": {"partitionKey": ["a"]}}', "data key only"),
        ('{"data": {"type": "buy"}}', "non-empty list of rules"),
        ('{"data": {"type": [{"numeric": ["~", 1]}]}}', "numeric pair"),
        ('{"data": {"type": [{"wildcard": "a*"}]}}', "not supported"),
        ('{"data": {"type": [{"prefix": 3}]}}', "takes a string"),
        ("not json", "is not JSON"),
    ],
)
def test_invalid_patterns_are_refused_with_the_reason(pattern, message):
    with pytest.raises(AwsError, match=message) as refused:
        check_filter_criteria({"Filters": [{"Pattern": pattern}]})
    assert refused.value.code == "InvalidParameterValueException"


def test_at_most_five_filters_and_none_means_no_filtering():
    six = {"Filters": [{"Pattern": '{"data": {"a": [1]}}'}] * 6}
    with pytest.raises(AwsError, match="at most 5"):
        check_filter_criteria(six)
    assert check_filter_criteria({"Filters": []}) is None
    assert check_filter_criteria(None) is None
    assert record_filter(None) is None
