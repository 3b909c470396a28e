"""TransactWriteItems: all actions or none, with AWS's cancellation reasons."""

import uuid

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def table(emulator):
    name = f"tx-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _update(table, pk, amount):
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "ADD #n :v",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":v": {"N": str(amount)}},
        }
    }


def _count(client, table, pk):
    item = client.get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item")
    return None if item is None else int(item["n"]["N"])


def test_all_actions_apply_together(emulator, table):
    client = emulator.client("dynamodb")
    client.transact_write_items(TransactItems=[_update(table, f"k{i}", i + 1) for i in range(100)] + [])
    assert [_count(client, table, f"k{i}") for i in (0, 50, 99)] == [1, 51, 100]


def test_a_failed_condition_cancels_every_action(emulator, table):
    client = emulator.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "guard"}, "n": {"N": "1"}})
    check = {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "guard"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[_update(table, "a", 5), check])
    error = caught.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert _count(client, table, "a") is None


def test_limits_and_duplicates_are_rejected(emulator, table):
    client = emulator.client("dynamodb")
    with pytest.raises(ClientError, match="multiple operations on one item"):
        client.transact_write_items(TransactItems=[_update(table, "same", 1), _update(table, "same", 2)])
    with pytest.raises(ClientError, match="length between 1 and 100"):
        client.transact_write_items(TransactItems=[_update(table, f"x{i}", 1) for i in range(101)])


def test_all_old_returns_the_item_that_failed_its_condition(emulator, table):
    client = emulator.client("dynamodb")
    stored = {"pk": {"S": "held"}, "n": {"N": "7"}, "note": {"S": "kept"}}
    client.put_item(TableName=table, Item=stored)
    check = {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "held"}},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    put = {
        "Put": {
            "TableName": table,
            "Item": {"pk": {"S": "new"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(TransactItems=[put, check])
    reasons = caught.value.response["CancellationReasons"]
    assert reasons[0] == {"Code": "None"}  # its condition held: no item to return
    assert reasons[1]["Code"] == "ConditionalCheckFailed" and reasons[1]["Item"] == stored

    del check["ConditionCheck"]["ReturnValuesOnConditionCheckFailure"]
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(TransactItems=[check])
    assert "Item" not in caught.value.response["CancellationReasons"][0]  # NONE, the default
