"""DynamoDB through real boto3: conditional writes, update expressions, batches, query, typed values."""

from __future__ import annotations

import sqlite3
import uuid
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from emulator import control
from emulator.dynamodb.backend import UNPROCESSED_RATE_ENV


@pytest.fixture(scope="module")
def dynamodb(emulator):
    return emulator.client("dynamodb")


def create_table(client, range_type: str | None = "N") -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        definitions.append({"AttributeName": "sk", "AttributeType": range_type})
    client.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST"
    )
    return name


def _error_code(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_table_lifecycle(dynamodb):
    name = create_table(dynamodb)
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableArn"].endswith(f":table/{name}")
    assert name in dynamodb.list_tables()["TableNames"]
    with pytest.raises(dynamodb.exceptions.ResourceInUseException):
        create_table_named(dynamodb, name)
    dynamodb.delete_table(TableName=name)
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.describe_table(TableName=name)


def create_table_named(client, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_conditional_put_rejects_a_duplicate(dynamodb):
    name = create_table(dynamodb, range_type=None)
    item = {"pk": {"S": "event-1"}, "score": {"N": "0.75"}}
    dynamodb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException) as failed:
        dynamodb.put_item(
            TableName=name,
            Item={**item, "score": {"N": "0.1"}},
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": "pk"},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response["Item"]["score"] == {"N": "0.75"}
    old = dynamodb.put_item(
        TableName=name,
        Item={**item, "score": {"N": "0.9"}},
        ConditionExpression="attribute_exists(pk) AND score < :s",
        ExpressionAttributeValues={":s": {"N": "0.8"}},
        ReturnValues="ALL_OLD",
    )
    assert old["Attributes"]["score"] == {"N": "0.75"}
    assert dynamodb.get_item(TableName=name, Key={"pk": {"S": "event-1"}}, ConsistentRead=True)["Item"][
        "score"
    ] == {"N": "0.9"}


def test_update_item_add_set_if_not_exists_and_arithmetic(dynamodb):
    name = create_table(dynamodb, range_type=None)
    key = {"pk": {"S": "card-7"}}

    def update(expression: str, values: dict, returns: str = "ALL_NEW", **extra) -> dict:
        return dynamodb.update_item(
            TableName=name,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues=returns,
            **extra,
        ).get("Attributes", {})

    created = update(
        "ADD hits :one SET first_seen = if_not_exists(first_seen, :t)",
        {":one": {"N": "1"}, ":t": {"S": "t1"}},
    )
    assert created == {"pk": key["pk"], "hits": {"N": "1"}, "first_seen": {"S": "t1"}}
    again = update(
        "ADD hits :one SET first_seen = if_not_exists(first_seen, :t)",
        {":one": {"N": "1"}, ":t": {"S": "t2"}},
    )
    assert again["hits"] == {"N": "2"} and again["first_seen"] == {"S": "t1"}
    changed = update(
        "SET total = if_not_exists(total, :zero) + :amount, tags = :tags REMOVE first_seen",
        {
            ":zero": {"N": "0"},
            ":amount": {"N": "12.345678901234567890123456789"},
            ":tags": {"SS": ["a", "b"]},
        },
        returns="UPDATED_NEW",
    )
    assert changed == {"total": {"N": "12.345678901234567890123456789"}, "tags": {"SS": ["a", "b"]}}
    old = update(
        "SET total = total - :x", {":x": {"N": "0.345678901234567890123456789"}}, returns="UPDATED_OLD"
    )
    assert old == {"total": {"N": "12.345678901234567890123456789"}}
    item = dynamodb.get_item(TableName=name, Key=key, ProjectionExpression="total, hits")["Item"]
    assert item == {"total": {"N": "12"}, "hits": {"N": "2"}}
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        update("SET hits = :v", {":v": {"N": "0"}, ":max": {"N": "1"}}, ConditionExpression="hits < :max")
    code, message = _error_code(lambda: update("SET pk = :v", {":v": {"S": "other"}}))
    assert code == "ValidationException" and "part of the key" in message


def test_expression_placeholders_are_checked(dynamodb):
    name = create_table(dynamodb, range_type=None)
    code, message = _error_code(
        lambda: dynamodb.put_item(
            TableName=name,
            Item={"pk": {"S": "a"}},
            ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeValues={":unused": {"S": "x"}},
        )
    )
    assert code == "ValidationException" and ":unused" in message
    code, message = _error_code(
        lambda: dynamodb.update_item(
            TableName=name, Key={"pk": {"S": "a"}}, UpdateExpression="SET a = :missing"
        )
    )
    assert code == "ValidationException" and ":missing" in message
    code, message = _error_code(lambda: dynamodb.put_item(TableName=name, Item={"pk": {"N": "1"}}))
    assert "Type mismatch for key pk" in message


def test_query_range_conditions_order_and_pagination(emulator, dynamodb):
    name = create_table(dynamodb, range_type="N")
    for sk in (100, 2, 10, 1, 20, 3):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": str(sk)}})
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "b"}, "sk": {"N": "5"}})
    table = boto3_table(emulator, name)

    def keys(condition, **extra) -> list[int]:
        return [int(item["sk"]) for item in table.query(KeyConditionExpression=condition, **extra)["Items"]]

    assert keys(Key("pk").eq("a")) == [1, 2, 3, 10, 20, 100]  # numeric order, not text order
    assert keys(Key("pk").eq("a") & Key("sk").gt(3)) == [10, 20, 100]
    assert keys(Key("pk").eq("a") & Key("sk").lte(3)) == [1, 2, 3]
    assert keys(Key("pk").eq("a") & Key("sk").between(2, 20)) == [2, 3, 10, 20]
    assert keys(Key("pk").eq("a") & Key("sk").eq(10)) == [10]
    assert keys(Key("pk").eq("a"), ScanIndexForward=False) == [100, 20, 10, 3, 2, 1]

    pages = list(
        dynamodb.get_paginator("query").paginate(
            TableName=name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
            ScanIndexForward=False,
            PaginationConfig={"PageSize": 4},
        )
    )
    assert [[int(i["sk"]["N"]) for i in page["Items"]] for page in pages] == [[100, 20, 10, 3], [2, 1]]
    assert pages[0]["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "3"}}
    scanned = [
        i for page in dynamodb.get_paginator("scan").paginate(TableName=name, Limit=3) for i in page["Items"]
    ]
    assert len(scanned) == 7
    code, message = _error_code(
        lambda: dynamodb.query(
            TableName=name, KeyConditionExpression="sk = :v", ExpressionAttributeValues={":v": {"N": "1"}}
        )
    )
    assert code == "ValidationException" and "pk" in message


def test_query_begins_with_on_a_string_range_key(dynamodb):
    name = create_table(dynamodb, range_type="S")
    for sk in ("2026-01-02#b", "2026-01-01#a", "2025-12-31#z"):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "c"}, "sk": {"S": sk}, "n": {"N": "1"}})
    found = dynamodb.query(
        TableName=name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :prefix)",
        FilterExpression="n = :one",
        ExpressionAttributeValues={":p": {"S": "c"}, ":prefix": {"S": "2026-"}, ":one": {"N": "1"}},
    )
    assert [i["sk"]["S"] for i in found["Items"]] == ["2026-01-01#a", "2026-01-02#b"]


def boto3_table(emulator, name: str):
    return boto3.resource(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{emulator.port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).Table(name)


def test_typed_values_round_trip_exactly(emulator, dynamodb):
    name = create_table(dynamodb, range_type="N")
    table = boto3_table(emulator, name)
    item = {
        "pk": "typed",
        "sk": Decimal("-1.5"),
        "amount": Decimal("12345678901234567890.123456789012345678"),
        "flags": {"fraud": True, "reviewed": None},
        "scores": [Decimal("0.1"), "label", {"nested": Decimal("3")}],
        "tags": {"x", "y"},
        "counts": {Decimal("1"), Decimal("2.5")},
        "raw": b"\x00\xffbytes",
    }
    table.put_item(Item=item)
    got = table.get_item(Key={"pk": "typed", "sk": Decimal("-1.5")})["Item"]
    assert got["raw"].value == item.pop("raw")
    got.pop("raw")
    assert got == item
    projected = table.get_item(
        Key={"pk": "typed", "sk": Decimal("-1.5")}, ProjectionExpression="flags.fraud, scores[2]"
    )
    assert projected["Item"] == {"flags": {"fraud": True}, "scores": [{"nested": Decimal("3")}]}
    code, message = _error_code(
        lambda: table.put_item(Item={"pk": "big", "sk": 1, "blob": "x" * (401 * 1024)})
    )
    assert code == "ValidationException" and "maximum allowed size" in message


def test_numbers_past_38_significant_digits_are_refused_not_rounded(dynamodb):
    name = create_table(dynamodb, range_type=None)
    widest = "1234567890123456789012345678901234567.8"  # 38 significant digits
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "n"}, "v": {"N": widest}, "e": {"N": "1E+125"}})
    got = dynamodb.get_item(TableName=name, Key={"pk": {"S": "n"}})["Item"]
    assert got["v"] == {"N": widest} and got["e"] == {"N": "1" + "0" * 125}
    for number, expected in [
        ("12345678901234567890123456789012345678.9", "more than 38 significant digits"),
        ("1E+126", "Number overflow"),
        ("1E-131", "Number underflow"),
    ]:
        code, message = _error_code(
            lambda number=number: dynamodb.put_item(
                TableName=name, Item={"pk": {"S": "x"}, "v": {"N": number}}
            )
        )
        assert code == "ValidationException" and expected in message, (number, message)
    assert "Item" not in dynamodb.get_item(TableName=name, Key={"pk": {"S": "x"}})


def test_key_values_are_held_to_dynamodbs_size_limits(dynamodb):
    """A partition key value takes at most 2048 bytes, a sort key value 1024: what AWS refuses must not
    work locally."""
    name = create_table(dynamodb, range_type="S")
    dynamodb.put_item(
        TableName=name, Item={"pk": {"S": "é" * 1024}, "sk": {"S": "s" * 1024}}
    )  # at the limits
    for item, expected in [
        ({"pk": {"S": "p" * 2049}, "sk": {"S": "s"}}, "Size of hashkey has exceeded"),
        ({"pk": {"S": "p" * 100_000}, "sk": {"S": "s"}}, "Size of hashkey has exceeded"),
        ({"pk": {"S": "p"}, "sk": {"S": "s" * 1025}}, "range keys has exceeded"),
        ({"pk": {"S": "p"}, "sk": {"S": "s" * 3000}}, "range keys has exceeded"),
    ]:
        code, message = _error_code(lambda item=item: dynamodb.put_item(TableName=name, Item=item))
        assert code == "ValidationException" and expected in message, message
    code, _ = _error_code(
        lambda: dynamodb.get_item(TableName=name, Key={"pk": {"S": "p" * 3000}, "sk": {"S": "s"}})
    )
    assert code == "ValidationException"
    binary = create_table(dynamodb, range_type=None)
    dynamodb.put_item(TableName=binary, Item={"pk": {"S": "b"}, "blob": {"B": b"x" * 3000}})  # not a key
    assert dynamodb.get_item(TableName=binary, Key={"pk": {"S": "b"}})["Item"]["blob"]["B"] == b"x" * 3000


def test_batch_write_limits_and_batch_get(dynamodb):
    name = create_table(dynamodb, range_type=None)
    puts = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(26)]
    code, _ = _error_code(lambda: dynamodb.batch_write_item(RequestItems={name: puts}))
    assert code == "ValidationException"
    code, message = _error_code(lambda: dynamodb.batch_write_item(RequestItems={name: [puts[0], puts[0]]}))
    assert "duplicates" in message
    assert dynamodb.batch_write_item(RequestItems={name: puts[:25]})["UnprocessedItems"] == {}
    dynamodb.batch_write_item(RequestItems={name: [{"DeleteRequest": {"Key": {"pk": {"S": "k0"}}}}]})
    got = dynamodb.batch_get_item(RequestItems={name: {"Keys": [{"pk": {"S": "k0"}}, {"pk": {"S": "k1"}}]}})
    assert got["Responses"][name] == [{"pk": {"S": "k1"}}]


def test_unprocessed_items_knob_and_persistence(tmp_path, emulator_factory, monkeypatch):
    monkeypatch.setenv(UNPROCESSED_RATE_ENV, "0.5")
    first = emulator_factory(tmp_path / "home")
    dynamodb = first.client("dynamodb")
    name = create_table(dynamodb, range_type=None)
    pending = {
        name: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}} for i in range(25)]
    }
    rounds, saw_unprocessed = 0, False
    while pending:
        pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]
        saw_unprocessed |= bool(pending)
        rounds += 1
        assert rounds < 60
    assert saw_unprocessed
    assert dynamodb.scan(TableName=name)["Count"] == 25

    assert control.stop(first.home)
    monkeypatch.delenv(UNPROCESSED_RATE_ENV)
    second = emulator_factory(first.home)
    dynamodb = second.client("dynamodb")
    assert dynamodb.describe_table(TableName=name)["Table"]["ItemCount"] == 25
    assert dynamodb.get_item(TableName=name, Key={"pk": {"S": "k7"}})["Item"]["v"] == {"N": "7"}


def test_pages_stop_at_one_megabyte(dynamodb):
    name = create_table(dynamodb, range_type="N")
    for sk in range(5):
        dynamodb.put_item(
            TableName=name, Item={"pk": {"S": "big"}, "sk": {"N": str(sk)}, "blob": {"S": "x" * 300_000}}
        )
    first = dynamodb.query(
        TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "big"}}
    )
    assert first["Count"] == 4 and first["LastEvaluatedKey"] == {"pk": {"S": "big"}, "sk": {"N": "3"}}
    rest = dynamodb.scan(TableName=name, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["sk"]["N"] for i in rest["Items"]] == ["4"] and "LastEvaluatedKey" not in rest


def test_select_count_counts_without_items_and_pages_like_a_scan(dynamodb):
    name = create_table(dynamodb, range_type="N")
    for sk in range(5):
        dynamodb.put_item(
            TableName=name, Item={"pk": {"S": "big"}, "sk": {"N": str(sk)}, "blob": {"S": "x" * 300_000}}
        )
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "small"}, "sk": {"N": "0"}, "flag": {"BOOL": True}})

    first = dynamodb.scan(TableName=name, Select="COUNT")
    assert "Items" not in first
    assert first["Count"] == first["ScannedCount"] == 4  # the 1 MB page limit applies to counts too
    rest = dynamodb.scan(TableName=name, Select="COUNT", ExclusiveStartKey=first["LastEvaluatedKey"])
    assert rest["Count"] == 2 and "LastEvaluatedKey" not in rest

    flagged = dynamodb.scan(
        TableName=name,
        Select="COUNT",
        FilterExpression="attribute_exists(flag)",
        ExclusiveStartKey=first["LastEvaluatedKey"],
    )
    assert (flagged["Count"], flagged["ScannedCount"]) == (1, 2)  # the filter applies after the page
    queried = dynamodb.query(
        TableName=name,
        Select="COUNT",
        KeyConditionExpression="pk = :p AND sk >= :s",
        ExpressionAttributeValues={":p": {"S": "big"}, ":s": {"N": "3"}},
    )
    assert queried["Count"] == 2 and "Items" not in queried


def test_select_is_checked(dynamodb):
    name = create_table(dynamodb, range_type=None)
    code, message = _error_code(lambda: dynamodb.scan(TableName=name, Select="EVERYTHING"))
    assert code == "ValidationException" and "EVERYTHING" in message
    code, message = _error_code(
        lambda: dynamodb.scan(TableName=name, Select="COUNT", ProjectionExpression="pk")
    )
    assert code == "ValidationException" and "ProjectionExpression" in message


def test_items_written_before_sizes_were_kept_still_page_by_size(tmp_path, emulator_factory):
    """A state directory from before the size column: the column is added and filled on start."""
    first = emulator_factory(tmp_path / "home")
    dynamodb = first.client("dynamodb")
    name = create_table(dynamodb, range_type=None)
    for i in range(4):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "blob": {"S": "x" * 400_000}})
    assert control.stop(first.home)
    database = next((first.home / "emulator").rglob("*.db"))
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE dynamodb_items DROP COLUMN size")

    second = emulator_factory(first.home)
    dynamodb = second.client("dynamodb")
    page = dynamodb.scan(TableName=name, Select="COUNT")
    assert page["Count"] == 3 and "LastEvaluatedKey" in page  # sizes were recomputed, not zero
    assert dynamodb.describe_table(TableName=name)["Table"]["TableSizeBytes"] > 1_600_000
