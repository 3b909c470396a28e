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
