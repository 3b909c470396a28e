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


def settled(cloudwatch, namespace, name, dims, since, samples: int) -> float:
    """The metric's Sum once it holds `samples` samples, one per call that published it: then none is
    still on its way (metrics arrive within a second or two, a second at a time)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        count = metric_sum(cloudwatch, namespace, name, dims, since, "SampleCount")
        if count == samples:
            return metric_sum(cloudwatch, namespace, name, dims, since)
        assert time.monotonic() < deadline, f"{namespace} {name} {dims}: {count} samples, expected {samples}"
        time.sleep(0.2)


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
    # eight requests: four puts, the overwrite, the failed put, the batch, the transaction
    assert settled(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims, since, 8) == expected
    assert metric_sum(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims, since) is None
    # requests per operation: SuccessfulRequestLatency's sample count (the failed put is not in it)
    latency = "SuccessfulRequestLatency"
    for operation, requests in (("PutItem", 5), ("BatchWriteItem", 1), ("TransactWriteItems", 1)):
        op_dims = {**dims, "Operation": operation}
        assert settled(cloudwatch, "AWS/DynamoDB", latency, op_dims, since, requests) > 0


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
    # seven requests: four gets, the missing item, the batch, the scan
    assert settled(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims, since, 7) == expected
    # the two puts of 4096 and 4097 bytes: 4 + 5 write units
    assert settled(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims, since, 2) == 9


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

    def kinesis(name: str, calls: int) -> float:
        return settled(cloudwatch, "AWS/Kinesis", name, dims, since, calls)

    assert kinesis("IncomingRecords", 4) == 10  # four calls: three PutRecord, one PutRecords
    assert kinesis("IncomingBytes", 4) == 3 * 102 + 7 * 1002
    assert kinesis("PutRecord.Success", 3) == 3
    assert kinesis("PutRecord.Bytes", 3) == 3 * 102
    assert kinesis("PutRecords.TotalRecords", 1) == 7
    assert kinesis("PutRecords.SuccessfulRecords", 1) == 7
    assert kinesis("PutRecords.Records", 1) == 7
    assert kinesis("PutRecords.FailedRecords", 1) == 0
    assert kinesis("WriteProvisionedThroughputExceeded", 4) == 0
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
    received, empty, receives = [], 0, 1  # the last, empty receive below is one more
    while len(received) < 5:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        received, empty, receives = received + messages, empty + (not messages), receives + 1
    sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
    )
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")
    dims = {"QueueName": name}

    def sqs_metric(name: str, samples: int) -> float:
        return settled(cloudwatch, "AWS/SQS", name, dims, since, samples)

    assert sqs_metric("NumberOfMessagesSent", 3) == 5  # two SendMessage, one batch of three
    assert sqs_metric("SentMessageSize", 5) == 2 * 100 + 3 * 50  # one sample per message
    assert sqs_metric("NumberOfMessagesReceived", receives) == 5
    assert sqs_metric("NumberOfEmptyReceives", receives) == empty + 1
    assert sqs_metric("NumberOfMessagesDeleted", 1) == 5


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

    def s3_metric(name: str, samples: int) -> float:
        return settled(cloudwatch, "AWS/S3", name, dims, since, samples)

    assert s3_metric("PutRequests", 4) == 4
    assert s3_metric("BytesUploaded", 4) == 4000
    assert s3_metric("GetRequests", 1) == 1
    assert s3_metric("BytesDownloaded", 1) == 1000
    assert s3_metric("ListRequests", 1) == 1
    assert s3_metric("AllRequests", 7) == 7  # and CreateBucket
    assert s3_metric("4xxErrors", 7) == 0


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
