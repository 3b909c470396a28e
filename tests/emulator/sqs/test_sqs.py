"""SQS through real boto3: send/receive/delete, visibility timeouts, batches, long polling, redrive."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from emulator import control
from emulator.sqs.backend import SqsBackend
from emulator.state import Database


@pytest.fixture(scope="module")
def sqs(emulator):
    return emulator.client("sqs")


@pytest.fixture
def queue(sqs):
    def create(**attributes: str) -> str:
        return sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}", Attributes=attributes)["QueueUrl"]

    return create


def test_send_receive_delete(emulator, sqs, queue):
    url = queue()
    assert url.startswith(f"http://127.0.0.1:{emulator.port}/000000000000/q-")
    assert sqs.get_queue_url(QueueName=url.rsplit("/", 1)[1])["QueueUrl"] == url
    attributes = {
        "kind": {"DataType": "String", "StringValue": "fraud"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x01"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert len(sent["MD5OfMessageAttributes"]) == 32
    (message,) = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert message["Body"] == "héllo" and message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert abs(int(message["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 5
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["QueueArn"].endswith(url.rsplit("/", 1)[1])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"
    ] == {"ApproximateNumberOfMessagesNotVisible": "0"}


def test_invisible_messages_reappear_after_the_visibility_timeout(sqs, queue, wait_for):
    url = queue(VisibilityTimeout="30")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    second = wait_for(
        lambda: sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"]).get("Messages"),
        what="the message visible again",
    )[0]
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # stale handle: no effect
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert third["MessageId"] == first["MessageId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"], VisibilityTimeout=5)


def test_batches_fail_per_entry(sqs, queue):
    url = queue()
    sent = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok1", "MessageBody": "a"},
            {"Id": "bad", "MessageBody": "control \x01 char"},
            {"Id": "ok2", "MessageBody": "b"},
        ],
    )
    assert sorted(s["Id"] for s in sent["Successful"]) == ["ok1", "ok2"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in sent["Failed"]] == [
        ("bad", "InvalidMessageContents", True)
    ]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "same", "MessageBody": "x"}] * 2)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["a", "b"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "d0", "ReceiptHandle": received[0]["ReceiptHandle"]},
            {"Id": "d1", "ReceiptHandle": "garbage"},
        ],
    )
    assert [s["Id"] for s in deleted["Successful"]] == ["d0"]
    assert [(f["Id"], f["Code"]) for f in deleted["Failed"]] == [("d1", "ReceiptHandleIsInvalid")]


MIB = 1_048_576


def test_messages_and_batches_take_up_to_one_mib(sqs, queue):
    """SQS's limit is 1 MiB per message and per batch (it was 256 KiB): the default, and the most
    MaximumMessageSize may be set to."""
    url = queue()
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"] == {
        "MaximumMessageSize": str(MIB)
    }
    sqs.send_message(QueueUrl=url, MessageBody="x" * MIB)
    with pytest.raises(ClientError, match="shorter than 1048576") as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (MIB + 1))
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    half = "y" * (MIB // 2)
    sent = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "a", "MessageBody": half}, {"Id": "b", "MessageBody": half}]
    )
    assert [entry["Id"] for entry in sent["Successful"]] == ["a", "b"] and sent["Failed"] == []
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": half}, {"Id": "b", "MessageBody": half + "!"}]
        )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(MIB)})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(MIB + 1)})
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(len(m["Body"]) for m in received) == [MIB // 2, MIB // 2, MIB]


def test_long_poll_returns_as_soon_as_a_message_arrives(emulator, sqs, queue):
    url = queue()
    started = time.monotonic()
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    assert 0.9 < time.monotonic() - started < 3

    sender = emulator.client("sqs")
    timer = threading.Timer(0.3, lambda: sender.send_message(QueueUrl=url, MessageBody="late"))
    timer.start()
    started = time.monotonic()
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    elapsed = time.monotonic() - started
    timer.join()
    assert [m["Body"] for m in messages] == ["late"]
    assert 0.25 < elapsed < 2


def test_redrive_to_dead_letter_queue_and_errors(sqs, queue):
    dlq = queue()
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = queue(RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq)["Messages"]] == ["poison"]

    missing = url.rsplit("/", 1)[0] + "/no-such-queue"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.send_message(QueueUrl=missing, MessageBody="x")
    assert raised.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=url.rsplit("/", 1)[1], Attributes={"VisibilityTimeout": "5"})
    sqs.purge_queue(QueueUrl=dlq)
    sqs.delete_queue(QueueUrl=dlq)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=dlq.rsplit("/", 1)[1])


def test_list_queues_pages_by_name_and_a_deletion_between_pages_skips_nothing(sqs):
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    urls = [sqs.create_queue(QueueName=f"{prefix}{i}")["QueueUrl"] for i in range(5)]
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert first["QueueUrls"] == urls[:2]
    sqs.delete_queue(QueueUrl=urls[0])  # an offset token would now skip urls[2]
    second = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    assert second["QueueUrls"] == urls[2:4]
    last = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=second["NextToken"])
    assert last["QueueUrls"] == urls[4:] and "NextToken" not in last


def test_backend_send_message_for_other_services(tmp_path):
    db = Database(tmp_path / "state.db")
    backend = SqsBackend(db)
    backend.create_queue("dlq", {})
    sent = backend.send_message(
        "arn:aws:sqs:us-east-1:000000000000:dlq",
        '{"failed": 1}',
        {"reason": {"DataType": "String", "StringValue": "x"}},
    )
    (message,) = backend.receive_messages("http://127.0.0.1:1/000000000000/dlq")
    assert message.message_id == sent["MessageId"] and message.body == '{"failed": 1}'
    assert message.attributes["reason"]["StringValue"] == "x"
    db.close()


def test_queues_and_messages_survive_a_restart(tmp_path, emulator_factory):
    first = emulator_factory(tmp_path / "home")
    sqs = first.client("sqs")
    url = sqs.create_queue(QueueName="kept", Attributes={"VisibilityTimeout": "7"})["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": f"m{i}", "MessageBody": f"body-{i}"} for i in range(3)]
    )
    assert control.stop(first.home)
    second = emulator_factory(first.home)
    sqs = second.client("sqs")
    url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "7"
    }
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert bodies == ["body-0", "body-1", "body-2"]
