"""Attribute values taken as they are when valid and canonical: whatever the value (valid or not, any
type, nested), normalise answers as its full path does, the same value or the same refusal."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.dynamodb.values import _normalised, normalise, normalise_item
from emulator.protocol.errors import AwsError

payloads = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["0", "1", "-1", "1.50", "007", "1E+2", "0.5", "-0", "1_000", "x", "", " 1"]),
    st.binary(max_size=10).map(lambda b: base64.b64encode(b).decode()),
    st.sampled_from(["not base64!", "QQ", "QQ==", "é"]),
    st.booleans(),
    st.none(),
    st.integers(),
    st.lists(st.sampled_from(["a", "b", "1", "2", "QQ=="]), max_size=3),
)
kinds = st.sampled_from(["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "X"])
scalars = st.one_of(
    st.tuples(kinds, payloads).map(lambda pair: {pair[0]: pair[1]}),
    st.just({}),
    st.just({"S": "a", "N": "1"}),
    st.text(max_size=3),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.dictionaries(st.text(max_size=3), inner, max_size=3).map(lambda m: {"M": m}),
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
    ),
    max_leaves=6,
)


def _outcome(call):
    try:
        return ("normalised", call())
    except AwsError as error:
        return ("refused", error.code, error.message)
    except (AttributeError, TypeError) as error:  # shapes the request check refuses before this
        return ("broken", type(error).__name__)


@settings(max_examples=500, deadline=None)
@given(values)
def test_normalise_answers_as_its_full_path(value):
    assert _outcome(lambda: normalise(value, "Item.a")) == _outcome(lambda: _normalised(value, "Item.a"))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=3), values, max_size=4))
def test_normalise_item_answers_as_the_full_path_on_every_attribute(item):
    full = _outcome(lambda: {name: _normalised(value, f"Item.{name}") for name, value in item.items()})
    assert _outcome(lambda: normalise_item(item)) == full
