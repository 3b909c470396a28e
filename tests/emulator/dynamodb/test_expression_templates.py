"""Parsed expressions are kept by text and resolved per request: whatever the text and the placeholders,
the result, the refusal and the placeholders recorded as used are those of parsing it afresh."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.dynamodb import expressions
from emulator.dynamodb.expressions import Placeholders, parse_condition, parse_projection, parse_update
from emulator.protocol.errors import AwsError

NAMES = ["#a", "#b", "#n0", "#ttl"]
VALUES = [":v", ":w", ":n0", ":one"]
# tokens of every grammar, and some that no grammar takes
TOKENS = [
    *NAMES,
    *VALUES,
    "#undefined",
    ":undefined",
    "plain",
    "nested",
    "SET",
    "ADD",
    "REMOVE",
    "DELETE",
    "=",
    "<>",
    "<",
    ">=",
    "+",
    "-",
    ",",
    ".",
    "[0]",
    "(",
    ")",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "size",
    "attribute_exists",
    "begins_with",
    "if_not_exists",
    "list_append",
    "$",
    "1",
]
# well-formed shapes, so that successes are generated as well as refusals
SHAPES = {
    "update": [
        "SET #a = :v",
        "SET #ttl = :v ADD #n0 :n0, #b :w REMOVE plain, #a",
        "SET #a = if_not_exists(#a, :v) + :one",
        "SET nested.#b[0] = list_append(:v, #a)",
        "ADD #n0 :n0 DELETE #a :w",
    ],
    "condition": [
        "attribute_exists(#a) AND #b = :v",
        "NOT (#a < :v OR #b BETWEEN :w AND :one)",
        "#a IN (:v, :w) AND begins_with(#b, :n0)",
        "size(#a) >= :one",
    ],
    "projection": ["#a, #b.plain[0], nested", "#ttl"],
}
PARSERS = {"update": parse_update, "condition": parse_condition, "projection": parse_projection}


def _fresh(grammar: str, text: str, placeholders: Placeholders):
    """The reference: a parser run on the text with the request's own placeholders, nothing cached."""
    kinds = {"update": "UpdateExpression", "condition": "ConditionExpression"}
    kind = kinds.get(grammar, "ProjectionExpression")
    return expressions._GRAMMARS[grammar](expressions._Parser(text, placeholders, kind))


def _outcome(parse, placeholders: Placeholders):
    try:
        result = ("parsed", parse())
    except AwsError as error:
        result = ("refused", error.code, error.message)
    return result, placeholders.used_names, placeholders.used_values


def _placeholders(names: list[str], values: list[str]) -> Placeholders:
    return Placeholders(
        {token: f"attr{index}" for index, token in enumerate(names)},
        {token: {"N": str(index)} for index, token in enumerate(values)},
    )


texts = st.one_of(
    st.sampled_from([shape for shapes in SHAPES.values() for shape in shapes]),
    st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join),
    st.text(max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(
    grammar=st.sampled_from(sorted(PARSERS)),
    text=texts,
    names=st.lists(st.sampled_from(NAMES), unique=True),
    values=st.lists(st.sampled_from(VALUES), unique=True),
)
def test_a_kept_parse_answers_as_parsing_afresh(grammar, text, names, values):
    fresh = _placeholders(names, values)
    expected = _outcome(lambda: _fresh(grammar, text, fresh), fresh)
    for _ in range(2):  # the first call may parse, the second answers from what was kept
        kept = _placeholders(names, values)
        assert _outcome(lambda kept=kept: PARSERS[grammar](text, kept), kept) == expected


@settings(max_examples=100, deadline=None)
@given(first=st.integers(-1000, 1000), second=st.integers(-1000, 1000))
def test_one_text_with_each_requests_own_values(first, second):
    """The same text in two requests: each gets its own names and values, never the other's."""
    text = "SET #a = :v ADD #b :w"
    one = parse_update(
        text, Placeholders({"#a": "x", "#b": "y"}, {":v": {"N": str(first)}, ":w": {"N": "1"}})
    )
    two = parse_update(
        text, Placeholders({"#a": "p", "#b": "q"}, {":v": {"N": str(second)}, ":w": {"N": "2"}})
    )
    assert one == [("set", ("x",), ("value", {"N": str(first)})), ("add", ("y",), ("value", {"N": "1"}))]
    assert two == [("set", ("p",), ("value", {"N": str(second)})), ("add", ("q",), ("value", {"N": "2"}))]


@pytest.fixture(scope="module")
def table(emulator):
    client = emulator.client("dynamodb")
    name = f"tpl-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, name


def test_requests_repeating_a_text_each_apply_their_own_placeholders(table):
    client, name = table
    text = "SET #ttl = :ttl ADD #n :n"
    for day in range(5):
        client.update_item(
            TableName=name,
            Key={"pk": {"S": "t1"}},
            UpdateExpression=text,
            ExpressionAttributeNames={"#ttl": "expires_at", "#n": f"n_{day % 3}"},
            ExpressionAttributeValues={":ttl": {"N": str(100 + day)}, ":n": {"N": str(day + 1)}},
        )
    item = client.get_item(TableName=name, Key={"pk": {"S": "t1"}})["Item"]
    assert item == {
        "pk": {"S": "t1"},
        "expires_at": {"N": "104"},
        "n_0": {"N": "5"},  # 1 + 4
        "n_1": {"N": "7"},  # 2 + 5
        "n_2": {"N": "3"},
    }
    # the text is kept now; a request missing one of its placeholders is still refused, naming it
    with pytest.raises(ClientError) as refused:
        client.update_item(
            TableName=name,
            Key={"pk": {"S": "t1"}},
            UpdateExpression=text,
            ExpressionAttributeNames={"#ttl": "expires_at"},
            ExpressionAttributeValues={":ttl": {"N": "1"}, ":n": {"N": "1"}},
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "attribute name: #n" in refused.value.response["Error"]["Message"]
