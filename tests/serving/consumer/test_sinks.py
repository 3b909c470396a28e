"""serving.consumer.sinks against the emulator: what lands in the output stream and the dead-letter
queue, and that whatever could not be written comes back to be reported, never dropped."""

import json

import pytest

from serving.consumer.claim_check import DeadLetterTarget, message_size, summary_attributes
from serving.consumer.sinks import OUTPUT_FIELDS, publish_predictions, send_dead_letters
from serving.kpl import AGGREGATE_BYTES, user_data


def _prediction(i: int, **overrides) -> dict:
    return {
        "request_id": f"p-{i}",
        "customer_id": f"C{i % 4}",
        "terminal_id": "T1",
        "amount": 12.3,
        "event_ms": 1767607200000 + i,
        "predicted_ms": 1767607200500 + i,
        "score": 0.1 + 0.2,  # 0.30000000000000004: the float's exact round-trip text must be stored
        "decision": "approve",
        "threshold": 0.5,
        "model_version": "v1",
        "variant": "production",
        "fallback": False,
        "fallback_reason": None,
        "sequence_number": f"{i:056d}",
        "latency_ms": 500,
        **overrides,
    }


def _letter(i: int, payload: str = "{not json") -> dict:
    return {"reason": "not JSON", "payload": payload, "sequence_number": f"{i:056d}", "shard_id": "s-0"}


def _stream_records(kinesis, stream: str) -> list[dict]:
    found = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found += kinesis.get_records(ShardIterator=iterator)["Records"]
    return found


def test_the_output_stream_carries_only_the_decision_fields(clients, stack):
    predictions = [_prediction(i) for i in range(8)]
    assert publish_predictions(clients.kinesis, stack.output_stream, predictions) == set()
    (published,) = _stream_records(clients.kinesis, stack.output_stream)  # one KPL aggregate
    messages = [json.loads(data) for data in user_data(published["Data"])]
    assert [m["request_id"] for m in messages] == [f"p-{i}" for i in range(8)]  # in order
    assert all(list(m) == list(OUTPUT_FIELDS) for m in messages)  # no stream position, no latency
    assert published["PartitionKey"] == "C0"  # the first prediction's customer, as the KPL keys it
    assert messages[0]["score"] == 0.1 + 0.2 and messages[0]["fallback_reason"] is None


def test_a_batch_of_predictions_is_published_as_a_few_aggregates(clients, stack):
    predictions = [_prediction(i, fallback_reason="x" * 100) for i in range(500)]
    assert publish_predictions(clients.kinesis, stack.output_stream, predictions) == set()
    published = _stream_records(clients.kinesis, stack.output_stream)
    assert len(published) <= 20  # about 450 bytes each: 55 to one 25 KiB aggregate
    assert all(len(r["Data"]) + len(r["PartitionKey"]) <= AGGREGATE_BYTES for r in published)
    ids = [json.loads(data)["request_id"] for r in published for data in user_data(r["Data"])]
    assert ids == [f"p-{i}" for i in range(500)]


def test_predictions_that_cannot_be_published_come_back(clients):
    assert publish_predictions(clients.kinesis, "no-such-stream", [_prediction(4)]) == {"p-4"}


def test_dead_letters_land_on_the_queue(clients, consumer_config, dead_letters):
    letters = [_letter(i) for i in range(23)]  # SendMessageBatch takes 10 at a time
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, letters) == set()
    received = dead_letters(consumer_config.dead_letter_queue_url)
    assert sorted(received, key=lambda letter: letter["sequence_number"]) == letters


def test_dead_letters_that_cannot_be_sent_come_back_by_sequence_number(clients, consumer_config, emulator):
    queue_url = f"http://127.0.0.1:{emulator.port}/000000000000/no-such-queue"
    target = DeadLetterTarget(queue_url, consumer_config.dead_letter_bucket)
    letters = [_letter(1), _letter(2), _letter(3, payload="x" * 300_000)]  # stored in S3, then not sent
    assert send_dead_letters(clients.sqs, clients.s3, target, letters) == {f"{i:056d}" for i in (1, 2, 3)}


def test_large_dead_letters_that_fit_one_by_one_are_all_sent(clients, consumer_config, dead_letters):
    # Ten 120 KB letters are one SendMessageBatch by count but 1.2 MB by size, over SQS's 1 MiB per
    # batch: they must still reach the queue, not come back failed on every redelivery.
    letters = [_letter(i, payload="x" * 120_000) for i in range(10)]
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, letters) == set()
    assert len(dead_letters(consumer_config.dead_letter_queue_url)) == 10


def _raw_messages(sqs, queue_url: str) -> list[dict]:
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        messages += batch
    return messages


def test_a_dead_letter_bigger_than_sqs_takes_is_not_lost(clients, consumer_config, received_letters):
    # A valid Kinesis record (up to 1 MiB) that is not JSON, with characters SQS refuses in attributes.
    letter = _letter(1, payload="\x00\x01 not json " + "x" * 300_000)
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, [letter]) == set()
    (read,) = received_letters(consumer_config.dead_letter_queue_url)
    assert read.claim_checked and read.body == letter and read.payload == letter["payload"]
    bucket, key = read.stored_at
    assert bucket == consumer_config.dead_letter_bucket and key.startswith(f"dead-letters/s-0/{1:056d}-")


def test_a_claim_checked_letter_is_in_the_extended_clients_format_and_says_why_without_s3(
    clients, consumer_config
):
    letter = _letter(7, payload="<html>" + "y" * 400_000)
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, [letter]) == set()
    (message,) = _raw_messages(clients.sqs, consumer_config.dead_letter_queue_url)
    pointer = json.loads(message["Body"])
    assert pointer[0] == "software.amazon.payloadoffloading.PayloadS3Pointer"
    assert set(pointer[1]) == {"s3BucketName", "s3Key"}
    stored = clients.s3.get_object(Bucket=pointer[1]["s3BucketName"], Key=pointer[1]["s3Key"])["Body"].read()
    assert json.loads(stored) == letter
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["ExtendedPayloadSize"] == str(len(stored))
    assert message["MessageAttributes"]["ExtendedPayloadSize"]["DataType"] == "Number"
    assert attributes["Reason"] == "not JSON"
    assert attributes["SequenceNumber"] == f"{7:056d}" and attributes["ShardId"] == "s-0"
    assert attributes["PayloadPrefix"].startswith("<html>yyy") and len(attributes["PayloadPrefix"]) <= 1024


def test_ten_letters_of_30_kb_go_in_batches_within_the_byte_limit(clients, consumer_config, received_letters):
    letters = [_letter(i, payload=f"{i}" * 30_000) for i in range(10)]
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, letters) == set()
    read = received_letters(consumer_config.dead_letter_queue_url)
    assert sorted((letter.body for letter in read), key=lambda body: body["sequence_number"]) == letters
    assert not any(letter.claim_checked for letter in read)  # each fits SQS on its own


def test_a_megabyte_of_emoji_triples_under_json_escaping_and_still_arrives(
    clients, consumer_config, received_letters
):
    payload = "\U0001f600" * (2**20 // 4)  # 1 MiB of UTF-8; json.dumps writes 12 bytes per character
    letter = _letter(3, payload=payload)
    assert len(json.dumps(letter)) > 3 * 2**20
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, [letter]) == set()
    (read,) = received_letters(consumer_config.dead_letter_queue_url)
    assert read.claim_checked and read.payload == payload


def _letter_of_message_size(i: int, size: int) -> dict:
    """A letter whose inline SQS message (body plus attributes) is exactly `size` bytes."""
    base = message_size(json.dumps(_letter(i, payload="")), summary_attributes(_letter(i)))
    return _letter(i, payload="z" * (size - base))


@pytest.mark.parametrize(("offset", "claim_checked"), [(-1, False), (0, False), (1, True)])
def test_a_letter_at_the_threshold_stays_inline_and_one_byte_over_is_claim_checked(
    clients, consumer_config, received_letters, offset, claim_checked
):
    threshold = consumer_config.dlq.max_inline_bytes
    assert threshold == 262_144  # SQS's own limit: a message of exactly this size must be accepted
    letter = _letter_of_message_size(5, threshold + offset)
    assert message_size(json.dumps(letter), summary_attributes(letter)) == threshold + offset
    assert send_dead_letters(clients.sqs, clients.s3, consumer_config.dlq, [letter]) == set()
    (read,) = received_letters(consumer_config.dead_letter_queue_url)
    assert (read.claim_checked, read.body) == (claim_checked, letter)


def test_a_letter_whose_body_cannot_be_stored_comes_back_and_the_others_are_sent(
    clients, consumer_config, received_letters
):
    target = DeadLetterTarget(consumer_config.dead_letter_queue_url, "no-such-bucket")
    big, small = _letter(1, payload="x" * 300_000), _letter(2)
    assert send_dead_letters(clients.sqs, clients.s3, target, [big, small]) == {f"{1:056d}"}
    assert [letter.body for letter in received_letters(consumer_config.dead_letter_queue_url)] == [small]
