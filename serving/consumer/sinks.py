"""Where outcomes go besides the audit objects (serving/consumer/audit.py): the output stream and the
dead-letter queue.

Each writer resends only the entries that did not go through (failed PutRecords entries, failed
SendMessageBatch entries) with backoff, and returns the keys that never did, so the
handler can report those records as failed instead of losing them. Dead letters too big for SQS keep
their body in S3 (the claim check, serving/consumer/claim_check.py).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from serving.consumer.claim_check import DeadLetterTarget, Message, encode_letter
from serving.consumer.retrying import resend_in_chunks
from serving.kpl import aggregate

_KINESIS_CHUNK = 500
_KINESIS_BATCH_BYTES = 5 * 1024 * 1024  # PutRecords' limit on a request's data and keys
_SQS_CHUNK = 10
_SQS_BATCH_BYTES = 1_048_576  # SendMessageBatch's limit on the sum of its messages' sizes (1 MiB)
# Claim-checked letters (each up to a few MiB) are stored side by side before their pointers are sent.
_STORE_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="claim-check")
log = logging.getLogger(__name__)


# What the output stream carries: the decision and what it was made from. The audit fields (stream
# position, latency, data-capture row) stay in the audit objects, which have everything.
OUTPUT_FIELDS = (
    "request_id",
    "customer_id",
    "terminal_id",
    "amount",
    "event_ms",
    "predicted_ms",
    "score",
    "decision",
    "threshold",
    "model_version",
    "variant",
    "fallback",
    "fallback_reason",
)


def publish_predictions(kinesis, stream: str, predictions: list[dict]) -> set[str]:
    """Put the predictions' decision fields on the output stream as KPL aggregates (at most one PUT
    payload unit each, keyed by the first prediction's customer): a batch of 500 is a handful of
    entries. Returns the request ids whose aggregate could not be put."""
    texts = [
        (
            p["customer_id"],
            json.dumps({name: p[name] for name in OUTPUT_FIELDS}, separators=(",", ":")).encode(),
        )
        for p in predictions
    ]
    entries = [
        {"Data": data, "PartitionKey": key, "_ids": [predictions[i]["request_id"] for i in indexes]}
        for key, data, indexes in aggregate(texts)
    ]

    def put(chunk: list[dict]) -> list[dict]:
        response = kinesis.put_records(
            StreamName=stream, Records=[{"Data": e["Data"], "PartitionKey": e["PartitionKey"]} for e in chunk]
        )
        if not response.get("FailedRecordCount"):
            return []
        return [
            entry for entry, result in zip(chunk, response["Records"], strict=True) if "ErrorCode" in result
        ]

    never = resend_in_chunks(put, entries, _KINESIS_CHUNK, _KINESIS_BATCH_BYTES, _entry_bytes)
    return {request_id for entry in never for request_id in entry["_ids"]}


def _entry_bytes(entry: dict) -> int:
    return len(entry["Data"]) + len(entry["PartitionKey"].encode())


def _store(s3, bucket: str, message: Message) -> bool:
    """Put a claim-checked letter's body in S3 (botocore retries what is worth retrying)."""
    key, data = message.stored
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
    except (BotoCoreError, ClientError) as error:
        log.warning(
            "dead letter %s not stored in s3://%s/%s: %s", message.sequence_number, bucket, key, error
        )
        return False
    return True


def send_dead_letters(sqs, s3, target: DeadLetterTarget, letters: list[dict]) -> set[str]:
    """Send each dead letter (a JSON-able dict with a `sequence_number`); return those not sent.

    A letter whose message would exceed `target.max_inline_bytes` is claim-checked: its JSON goes to
    `target.bucket` first and the message carries the pointer. A letter whose object could not be
    stored is not sent, and comes back like one SQS refused.
    """
    messages = [encode_letter(letter, target) for letter in letters]
    offloaded = [message for message in messages if message.stored is not None]
    stored = list(_STORE_POOL.map(lambda message: _store(s3, target.bucket, message), offloaded))
    unstored = [message for message, ok in zip(offloaded, stored, strict=True) if not ok]
    skipped = {id(message) for message in unstored}
    entries = [
        {"Id": str(i), "message": message} for i, message in enumerate(messages) if id(message) not in skipped
    ]

    def send(chunk: list[dict]) -> list[dict]:
        response = sqs.send_message_batch(
            QueueUrl=target.queue_url,
            Entries=[
                {
                    "Id": e["Id"],
                    "MessageBody": e["message"].body,
                    "MessageAttributes": e["message"].attributes,
                }
                for e in chunk
            ],
        )
        failed_ids = {entry["Id"] for entry in response.get("Failed", [])}
        return [entry for entry in chunk if entry["Id"] in failed_ids]

    # Ten letters of a few dozen KB each exceed the batch's byte limit: chunk by size as well as count,
    # or the whole batch is refused on every redelivery.
    never = resend_in_chunks(send, entries, _SQS_CHUNK, _SQS_BATCH_BYTES, lambda entry: entry["message"].size)
    return {entry["message"].sequence_number for entry in never} | {m.sequence_number for m in unstored}
