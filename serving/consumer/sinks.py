"""Where outcomes go: the predictions table (audit), the output stream, the dead-letter queue.

Each writer resends only the entries that did not go through (UnprocessedItems, failed PutRecords
entries, failed SendMessageBatch entries) with backoff, and returns the keys that never did, so the
handler can report those records as failed instead of losing them.
"""

from __future__ import annotations

import json
from decimal import Decimal

from serving.consumer.retrying import resend_in_chunks

_DYNAMO_CHUNK = 25
_KINESIS_CHUNK = 500
_SQS_CHUNK = 10
_SQS_BATCH_BYTES = 1_048_576  # SendMessageBatch's limit on the sum of its messages' sizes (1 MiB)


# What the output stream carries: the decision and what it was made from. The audit fields (stream
# position, latency, data-capture row) stay in the predictions table, which has everything.
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


def _attribute(value) -> dict:
    # exact types, most frequent first: this runs for every attribute of every prediction
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is float:
        # DynamoDB numbers are decimals: send the float's shortest round-trip text, never its binary
        # expansion; `repr` gives exactly that.
        return {"N": repr(value)}
    if kind is int or kind is Decimal:
        return {"N": str(value)}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    return {"S": str(value)}


def write_predictions(dynamodb, table: str, predictions: list[dict]) -> set[str]:
    """Put each prediction under its request id (a replay overwrites, never duplicates)."""
    requests = [
        {"PutRequest": {"Item": {name: _attribute(value) for name, value in prediction.items()}}}
        for prediction in predictions
    ]

    def write(chunk: list[dict]) -> list[dict]:
        response = dynamodb.batch_write_item(RequestItems={table: chunk})
        return response.get("UnprocessedItems", {}).get(table, [])

    failed = resend_in_chunks(write, requests, _DYNAMO_CHUNK)
    return {request["PutRequest"]["Item"]["request_id"]["S"] for request in failed}


def publish_predictions(kinesis, stream: str, predictions: list[dict]) -> set[str]:
    entries = [
        {
            "Data": json.dumps({name: p[name] for name in OUTPUT_FIELDS}, separators=(",", ":")).encode(),
            "PartitionKey": p["customer_id"],
            "_id": p["request_id"],
        }
        for p in predictions
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

    return {entry["_id"] for entry in resend_in_chunks(put, entries, _KINESIS_CHUNK)}


def send_dead_letters(sqs, queue_url: str, letters: list[dict]) -> set[str]:
    """Send each dead letter (a JSON-able dict with a `sequence_number`); return those not sent."""
    entries = []
    for i, letter in enumerate(letters):
        body = json.dumps(letter)
        entries.append(
            {
                "Id": str(i),
                "MessageBody": body,
                "_seq": letter["sequence_number"],
                "_bytes": len(body.encode()),
            }
        )

    def send(chunk: list[dict]) -> list[dict]:
        response = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": e["Id"], "MessageBody": e["MessageBody"]} for e in chunk]
        )
        failed_ids = {entry["Id"] for entry in response.get("Failed", [])}
        return [entry for entry in chunk if entry["Id"] in failed_ids]

    # Ten letters of a few dozen KB each exceed the batch's byte limit: chunk by size as well as count,
    # or the whole batch is refused on every redelivery.
    never = resend_in_chunks(send, entries, _SQS_CHUNK, _SQS_BATCH_BYTES, lambda entry: entry["_bytes"])
    return {entry["_seq"] for entry in never}
