"""The metrics AWS services publish about themselves, published by the emulated services: N calls of
known size through real boto3, then the metric read back through CloudWatch (GetMetricStatistics and
GetMetricData) with the exact count, bytes or capacity units."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WAIT_S = 60.0


@pytest.fixture(scope="module")
def clients(emulator):
    names = ("cloudwatch", "dynamodb", "kinesis", "s3", "sqs")
    return {name: emulator.client(name) for name in names}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def metric_sum(
    cloudwatch, namespace: str, name: str, dims: dict[str, str], since: float, statistic: str = "Sum"
) -> float | None:
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=datetime.fromtimestamp(since, UTC),  # CloudWatch rounds it down to the minute
        EndTime=datetime.fromtimestamp(time.time() + 120, UTC),
        Period=3600,
        Statistics=["Sum", "SampleCount"],
    )
    points = answer["Datapoints"]
    return sum(p[statistic] for p in points) if points else None


def wait_for_sum(cloudwatch, namespace, name, dims, since, expected) -> float | None:
    """The metric's Sum once it equals `expected` (metrics arrive within a second or two), or the last
    value seen when it never does."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = metric_sum(cloudwatch, namespace, name, dims, since)
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def settle(cloudwatch, namespace, name, dims, since, expected) -> float | None:
    """As wait_for_sum, then once more after the next flush: a count that overshoots is caught."""
    value = wait_for_sum(cloudwatch, namespace, name, dims, since, expected)
    time.sleep(1.5)  # two flush intervals: anything still pending would show
    return metric_sum(cloudwatch, namespace, name, dims, since) if value == expected else value


# ---- DynamoDB ------------------------------------------------------------------------------------


def _table(dynamodb) -> str:
    name = _name("cost")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _item(key: str, size: int) -> dict:
    """An item of exactly `size` bytes by DynamoDB's rule (attribute names plus values)."""
    fixed = len("pk") + len(key) + len("d")
    return {"pk": {"S": key}, "d": {"S": "x" * (size - fixed)}}


def test_dynamodb_write_units_round_up_per_kb_and_match_returned_capacity(clients):
    dynamodb, cloudwatch = clients["dynamodb"], clients["cloudwatch"]
    since = time.time()  # before the resource exists: everything it ever counted is in the window
    table = _table(dynamodb)
    returned = []
    for key, size in (("a", 1024), ("b", 1025), ("c", 2048), ("d", 3000)):  # 1 + 2 + 2 + 3 units
        answer = dynamodb.put_item(TableName=table, Item=_item(key, size), ReturnConsumedCapacity="TOTAL")
        returned.append(answer["ConsumedCapacity"]["CapacityUnits"])
    assert returned == [1.0, 2.0, 2.0, 3.0]
    # overwriting a 3000-byte item with a small one consumes by the larger of the two
    answer = dynamodb.put_item(TableName=table, Item=_item("d", 10), ReturnConsumedCapacity="INDEXES")
    assert answer["ConsumedCapacity"] == {
        "TableName": table,
        "CapacityUnits": 3.0,
        "WriteCapacityUnits": 3.0,
        "Table": {"CapacityUnits": 3.0, "WriteCapacityUnits": 3.0},
    }
    # a failed condition still consumes (by the stored item: 1025 bytes -> 2)
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(TableName=table, Item=_item("b", 5), ConditionExpression="attribute_not_exists(pk)")
    # a batch of 3 items (1 KB, 1 KB + 1, 4 KB) -> 1 + 2 + 4, rounded up per item
    batch = [_item("e", 1024), _item("f", 1025), _item("g", 4096)]
    answer = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": item}} for item in batch]},
        ReturnConsumedCapacity="TOTAL",
    )
    assert answer["ConsumedCapacity"] == [
        {"TableName": table, "CapacityUnits": 7.0, "WriteCapacityUnits": 7.0}
    ]
    # a transaction doubles: (1 KB + 1 -> 2) * 2
    answer = dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": _item("h", 1025)}}],
        ReturnConsumedCapacity="TOTAL",
    )
    assert answer["ConsumedCapacity"][0]["CapacityUnits"] == 4.0
    dims = {"TableName": table}
    expected = 1 + 2 + 2 + 3 + 3 + 2 + 7 + 4
    assert settle(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims, since, expected) == expected
    assert metric_sum(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims, since) is None
    # requests per operation: SuccessfulRequestLatency's sample count (the failed put is not in it)
    latency = "SuccessfulRequestLatency"
    for operation, requests in (("PutItem", 5), ("BatchWriteItem", 1), ("TransactWriteItems", 1)):
        op_dims = {**dims, "Operation": operation}
        assert metric_sum(cloudwatch, "AWS/DynamoDB", latency, op_dims, since, "SampleCount") == requests


def test_dynamodb_read_units_round_up_per_4kb_half_when_eventually_consistent(clients):
    dynamodb, cloudwatch = clients["dynamodb"], clients["cloudwatch"]
    since = time.time()
    table = _table(dynamodb)
    for key, size in (("small", 4096), ("large", 4097)):
        dynamodb.put_item(TableName=table, Item=_item(key, size))

    def get(key: str, consistent: bool) -> float:
        answer = dynamodb.get_item(
            TableName=table, Key={"pk": {"S": key}}, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL"
        )
        return answer["ConsumedCapacity"]["CapacityUnits"]

    assert [get("small", True), get("large", True), get("small", False), get("large", False)] == [
        1.0,
        2.0,
        0.5,
        1.0,
    ]
    assert get("missing", True) == 1.0  # a read of nothing still consumes one unit
    answer = dynamodb.batch_get_item(
        RequestItems={
            table: {"Keys": [{"pk": {"S": "small"}}, {"pk": {"S": "large"}}], "ConsistentRead": True}
        },
        ReturnConsumedCapacity="TOTAL",
    )
    assert answer["ConsumedCapacity"] == [
        {"TableName": table, "CapacityUnits": 3.0, "ReadCapacityUnits": 3.0}
    ]
    # a scan sums the sizes first: 8193 bytes -> 3 units, halved
    answer = dynamodb.scan(TableName=table, ReturnConsumedCapacity="TOTAL")
    assert answer["ConsumedCapacity"]["CapacityUnits"] == 1.5
    expected = 1 + 2 + 0.5 + 1 + 1 + 3 + 1.5
    dims = {"TableName": table}
    assert settle(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims, since, expected) == expected
    # the two puts of 4096 and 4097 bytes: 4 + 5 write units
    assert metric_sum(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims, since) == 9


@pytest.fixture(scope="module")
def property_table(clients) -> str:
    return _table(clients["dynamodb"])


_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    attributes=st.dictionaries(
        _NAMES.filter(lambda name: name != "pk"),
        st.one_of(st.text(min_size=1, max_size=3000), st.binary(min_size=1, max_size=3000)),
        min_size=1,
        max_size=5,
    )
)
def test_dynamodb_units_follow_the_item_size_for_any_item(clients, property_table, attributes):
    """Units by the documented rule from the item's size (attribute names plus values, UTF-8), whatever
    the names, values and types: writes per 1 KB, strongly consistent reads per 4 KB, half when not."""
    dynamodb = clients["dynamodb"]
    key = uuid.uuid4().hex
    item = {"pk": {"S": key}}
    size = len("pk") + len(key)
    for name, value in attributes.items():
        item[name] = {"S": value} if isinstance(value, str) else {"B": value}
        size += len(name.encode()) + (len(value.encode()) if isinstance(value, str) else len(value))
    written = dynamodb.put_item(TableName=property_table, Item=item, ReturnConsumedCapacity="TOTAL")
    assert written["ConsumedCapacity"]["CapacityUnits"] == math.ceil(size / 1024)
    for consistent, share in ((True, 1.0), (False, 0.5)):
        read = dynamodb.get_item(
            TableName=property_table,
            Key={"pk": {"S": key}},
            ConsistentRead=consistent,
            ReturnConsumedCapacity="TOTAL",
        )
        assert read["ConsumedCapacity"]["CapacityUnits"] == math.ceil(size / 4096) * share


def test_dynamodb_refuses_an_unknown_return_consumed_capacity(clients):
    dynamodb = clients["dynamodb"]
    table = _table(dynamodb)
    dynamodb.meta.events.register_first(
        "before-parameter-build.dynamodb.GetItem",
        lambda params, **_: params.update(ReturnConsumedCapacity="SOME"),
    )
    try:
        with pytest.raises(dynamodb.exceptions.ClientError) as raised:
            dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.GetItem")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "returnConsumedCapacity" in raised.value.response["Error"]["Message"]


# ---- Kinesis ----------------------------------------------------------------------------------------


def test_kinesis_incoming_records_and_bytes_per_stream(clients):
    kinesis, cloudwatch = clients["kinesis"], clients["cloudwatch"]
    stream, since = _name("cost"), time.time()
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    for i in range(3):
        kinesis.put_record(StreamName=stream, Data=b"x" * 100, PartitionKey=f"k{i}")  # 102 bytes each
    kinesis.put_records(
        StreamName=stream, Records=[{"Data": b"y" * 1000, "PartitionKey": "pk"} for _ in range(7)]
    )
    dims = {"StreamName": stream}
    assert settle(cloudwatch, "AWS/Kinesis", "IncomingRecords", dims, since, 10) == 10
    assert (
        settle(cloudwatch, "AWS/Kinesis", "IncomingBytes", dims, since, 3 * 102 + 7 * 1002)
        == 3 * 102 + 7 * 1002
    )
    assert metric_sum(cloudwatch, "AWS/Kinesis", "PutRecord.Success", dims, since) == 3
    assert metric_sum(cloudwatch, "AWS/Kinesis", "PutRecords.TotalRecords", dims, since) == 7
    assert metric_sum(cloudwatch, "AWS/Kinesis", "PutRecords.SuccessfulRecords", dims, since) == 7
    assert metric_sum(cloudwatch, "AWS/Kinesis", "PutRecords.Records", dims, since) == 7
    # GetMetricData reads the same store
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "records",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Kinesis",
                        "MetricName": "IncomingRecords",
                        "Dimensions": [{"Name": "StreamName", "Value": stream}],
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=datetime.fromtimestamp(since // 60 * 60, UTC),
        EndTime=datetime.fromtimestamp(time.time() + 120, UTC),
    )
    assert sum(answer["MetricDataResults"][0]["Values"]) == 10


# ---- SQS --------------------------------------------------------------------------------------------


def test_sqs_messages_sent_received_deleted_and_empty_receives(clients):
    sqs, cloudwatch = clients["sqs"], clients["cloudwatch"]
    name, since = _name("cost"), time.time()
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="a" * 100)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "b" * 50} for i in range(3)])
    received, empty = [], 0
    while len(received) < 5:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        received, empty = received + messages, empty + (not messages)
    sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
    )
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")
    dims = {"QueueName": name}
    assert settle(cloudwatch, "AWS/SQS", "NumberOfMessagesSent", dims, since, 5) == 5
    assert metric_sum(cloudwatch, "AWS/SQS", "SentMessageSize", dims, since) == 2 * 100 + 3 * 50
    assert metric_sum(cloudwatch, "AWS/SQS", "NumberOfMessagesReceived", dims, since) == 5
    assert metric_sum(cloudwatch, "AWS/SQS", "NumberOfMessagesDeleted", dims, since) == 5
    assert metric_sum(cloudwatch, "AWS/SQS", "NumberOfEmptyReceives", dims, since) == empty + 1


# ---- S3 ---------------------------------------------------------------------------------------------


def test_s3_request_metrics_per_bucket(clients):
    s3, cloudwatch = clients["s3"], clients["cloudwatch"]
    bucket, since = _name("cost"), time.time()
    s3.create_bucket(Bucket=bucket)
    for i in range(4):
        s3.put_object(Bucket=bucket, Key=f"predictions/{i}.json", Body=b"z" * 1000)
    s3.get_object(Bucket=bucket, Key="predictions/0.json")["Body"].read()
    s3.list_objects_v2(Bucket=bucket, Prefix="predictions/")
    dims = {"BucketName": bucket, "FilterId": "EntireBucket"}
    assert settle(cloudwatch, "AWS/S3", "PutRequests", dims, since, 4) == 4
    assert metric_sum(cloudwatch, "AWS/S3", "BytesUploaded", dims, since) == 4000
    assert metric_sum(cloudwatch, "AWS/S3", "GetRequests", dims, since) == 1
    assert metric_sum(cloudwatch, "AWS/S3", "BytesDownloaded", dims, since) == 1000
    assert metric_sum(cloudwatch, "AWS/S3", "ListRequests", dims, since) == 1
    assert metric_sum(cloudwatch, "AWS/S3", "AllRequests", dims, since) == 7  # and CreateBucket
    assert metric_sum(cloudwatch, "AWS/S3", "4xxErrors", dims, since) == 0


def test_s3_daily_storage_metrics(tmp_path, monkeypatch, emulator_factory):
    """A day lasts one second here (RTINFER_TIME_SCALE): storage is published again soon after a write."""
    monkeypatch.setenv("RTINFER_TIME_SCALE", str(1 / 86400))
    running = emulator_factory(tmp_path / "home")
    s3, cloudwatch = running.client("s3"), running.client("cloudwatch")
    s3.create_bucket(Bucket="stored")
    for i in range(3):
        s3.put_object(Bucket="stored", Key=f"k{i}", Body=b"q" * 500)
    deadline = time.monotonic() + WAIT_S
    latest = None
    while time.monotonic() < deadline:
        answer = cloudwatch.get_metric_statistics(
            Namespace="AWS/S3",
            MetricName="BucketSizeBytes",
            Dimensions=[
                {"Name": "BucketName", "Value": "stored"},
                {"Name": "StorageType", "Value": "StandardStorage"},
            ],
            StartTime=datetime.fromtimestamp(time.time() - 600, UTC),
            EndTime=datetime.fromtimestamp(time.time() + 60, UTC),
            Period=60,
            Statistics=["Maximum"],
        )
        latest = max((p["Maximum"] for p in answer["Datapoints"]), default=None)
        if latest == 1500:
            break
        time.sleep(0.2)
    assert latest == 1500
    objects = cloudwatch.get_metric_statistics(
        Namespace="AWS/S3",
        MetricName="NumberOfObjects",
        Dimensions=[
            {"Name": "BucketName", "Value": "stored"},
            {"Name": "StorageType", "Value": "AllStorageTypes"},
        ],
        StartTime=datetime.fromtimestamp(time.time() - 600, UTC),
        EndTime=datetime.fromtimestamp(time.time() + 60, UTC),
        Period=60,
        Statistics=["Maximum"],
    )
    assert max(p["Maximum"] for p in objects["Datapoints"]) == 3
