"""UpdateTimeToLive and DescribeTimeToLive through real boto3, with DynamoDB's rules and errors."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="module")
def dynamodb(emulator):
    return emulator.client("dynamodb")


@pytest.fixture
def table(dynamodb) -> str:
    name = f"ttl-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _spec(enabled: bool, name: str = "expires_at") -> dict:
    return {"AttributeName": name, "Enabled": enabled}


def test_ttl_starts_disabled_and_enabling_is_described(dynamodb, table):
    assert dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }
    response = dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(True))
    assert response["TimeToLiveSpecification"] == _spec(True)
    assert dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }
    assert "TimeToLiveDescription" not in dynamodb.describe_table(TableName=table)["Table"]


def test_ttl_changes_are_refused_as_dynamodb_refuses_them(dynamodb, table):
    errors = dynamodb.exceptions
    with pytest.raises(errors.ClientError, match="already disabled"):
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(False))
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(True))
    with pytest.raises(errors.ClientError, match="already enabled") as again:
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(True, "other"))
    assert again.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(errors.ClientError, match="multiple times within a fixed interval"):
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(False))
    with pytest.raises(errors.ResourceNotFoundException):
        dynamodb.describe_time_to_live(TableName="no-such-table")
    with pytest.raises(errors.ResourceNotFoundException):
        dynamodb.update_time_to_live(TableName="no-such-table", TimeToLiveSpecification=_spec(True))


def test_a_deleted_table_takes_its_ttl_setting_with_it(dynamodb, table):
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(True))
    dynamodb.delete_table(TableName=table)
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    status = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"]
    assert status == "DISABLED"
