"""Item sizes, which capacity units and TableSizeBytes count: computed inline for the common types, and
for an update from the stored size and the attributes it touched. Whatever the items and the updates,
the sizes are those of summing value_size over every attribute afresh."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.dynamodb.capacity import read_units, write_units
from emulator.dynamodb.values import item_size, value_size

names = st.text(min_size=1, max_size=8)
numbers = st.integers(-(10**12), 10**12).map(str)
scalars = st.one_of(
    st.text(max_size=20).map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    st.binary(max_size=20).map(lambda b: {"B": base64.b64encode(b).decode()}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).map(lambda s: {"SS": s}),
    st.lists(numbers, min_size=1, max_size=4, unique=True).map(lambda s: {"NS": s}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.dictionaries(names, inner, max_size=3).map(lambda m: {"M": m}),
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
    ),
    max_leaves=8,
)


def _reference_size(item: dict) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, values, max_size=8))
def test_item_size_is_the_sum_of_its_attributes(item):
    assert item_size(item) == _reference_size(item)


@pytest.fixture(scope="module")
def dynamodb(emulator):
    return emulator.client("dynamodb")


# Update actions on a few attributes, top-level and nested (in the map `m` each item starts with);
# strings are SET, numbers ADDed, so that every update is valid.
TEXTS = ["a", "b", "m.x", "m.y"]
ATTRIBUTES = [*TEXTS, "count", "n"]
actions = st.lists(
    st.one_of(
        st.tuples(st.just("SET"), st.sampled_from(TEXTS), st.text(max_size=30)),
        st.tuples(st.just("ADD"), st.sampled_from(["count", "n"]), st.integers(-5, 10**9)),
        st.tuples(st.just("REMOVE"), st.sampled_from(ATTRIBUTES), st.none()),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda action: action[1].split(".")[0],  # DynamoDB refuses overlapping paths
)


def _request(key: str, chosen: list) -> dict:
    clauses: dict[str, list[str]] = {}
    names, values = {"#m": "m"}, {}
    for index, (kind, attribute, operand) in enumerate(chosen):
        path = ".".join("#m" if part == "m" else f"#a{index}" for part in attribute.split("."))
        if attribute.startswith("m."):
            names[f"#a{index}"] = attribute[2:]
        else:
            names[f"#a{index}"] = attribute
        if kind == "SET":
            values[f":v{index}"] = {"S": operand}
            clauses.setdefault("SET", []).append(f"{path} = :v{index}")
        elif kind == "ADD":
            values[f":v{index}"] = {"N": str(operand)}
            clauses.setdefault("ADD", []).append(f"{path} :v{index}")
        else:
            clauses.setdefault("REMOVE", []).append(path)
    if not any(attribute.startswith("m.") for _, attribute, _ in chosen):
        del names["#m"]
    return {
        "Key": {"pk": {"S": key}},
        "UpdateExpression": " ".join(f"{clause} {', '.join(parts)}" for clause, parts in clauses.items()),
        "ExpressionAttributeNames": names,
        **({"ExpressionAttributeValues": values} if values else {}),
    }


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["k1", "k2", "k3"]), actions, st.booleans()), max_size=12))
def test_updates_count_the_sizes_of_the_items_they_leave(dynamodb, updates):
    table = f"sz-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for key in ("k1", "k2", "k3"):  # each item starts with a map, so that nested paths resolve
        dynamodb.put_item(TableName=table, Item={"pk": {"S": key}, "m": {"M": {"x": {"S": "start"}}}})
    try:
        for key, chosen, in_transaction in updates:
            before = dynamodb.get_item(TableName=table, Key={"pk": {"S": key}})["Item"]
            request = _request(key, chosen)
            if in_transaction:
                answer = dynamodb.transact_write_items(
                    TransactItems=[{"Update": {"TableName": table, **request}}],
                    ReturnConsumedCapacity="TOTAL",
                )
                units = answer["ConsumedCapacity"][0]["CapacityUnits"] / 2  # transactions count twice
            else:
                answer = dynamodb.update_item(
                    TableName=table, ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL", **request
                )
                assert answer["Attributes"] == before  # the old item, as it was before the update
                units = answer["ConsumedCapacity"]["CapacityUnits"]
            after = dynamodb.get_item(TableName=table, Key={"pk": {"S": key}})["Item"]
            assert units == write_units(max(_reference_size(before), _reference_size(after)))
        stored = dynamodb.scan(TableName=table)["Items"]
        table_bytes = dynamodb.describe_table(TableName=table)["Table"]["TableSizeBytes"]
        assert table_bytes == sum(_reference_size(item) for item in stored)
    finally:
        dynamodb.delete_table(TableName=table)


stored_values = st.one_of(
    st.text(max_size=20).map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    st.binary(max_size=20).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.dictionaries(st.sampled_from(["x", "y"]), numbers.map(lambda n: {"N": n}), max_size=2).map(
        lambda m: {"M": m}
    ),
)


def _as_sent(item: dict) -> dict:
    """An item as its JSON carries it (boto3 hands binary values over as bytes)."""
    return {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in item.items()
    }


@settings(max_examples=20, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), stored_values, max_size=3), max_size=6))
def test_batch_get_returns_the_items_as_stored(dynamodb, attributes):
    """BatchGetItem answers with the stored JSON as it is: the same items GetItem decodes, and the
    same capacity, projected or not."""
    table = f"bg-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        keys = [{"pk": {"S": f"k{i}"}} for i in range(len(attributes) + 2)]  # two keys never stored
        for key, item in zip(keys, attributes, strict=False):
            dynamodb.put_item(TableName=table, Item={**key, **item})
        for projection in ({}, {"ProjectionExpression": "pk, a, b.x"}):
            singly = [dynamodb.get_item(TableName=table, Key=key, **projection).get("Item") for key in keys]
            answer = dynamodb.batch_get_item(
                RequestItems={table: {"Keys": keys, **projection}}, ReturnConsumedCapacity="TOTAL"
            )
            by_key = {item["pk"]["S"]: item for item in answer["Responses"][table]}
            assert [by_key.get(key["pk"]["S"]) for key in keys] == singly
            stored = [{**key, **item} for key, item in zip(keys, attributes, strict=False)]
            units = sum(read_units(_reference_size(_as_sent(item)), False) for item in stored)
            units += read_units(0, False) * (len(keys) - len(stored))  # a key not found reads too
            assert answer["ConsumedCapacity"][0]["CapacityUnits"] == units
    finally:
        dynamodb.delete_table(TableName=table)
