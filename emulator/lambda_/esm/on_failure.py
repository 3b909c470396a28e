"""The record Lambda sends to an OnFailure destination when it gives up on a Kinesis batch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from emulator.lambda_.esm.kinesis_event import EventRecord

RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def failure_record(
    records: list[EventRecord],
    condition: str,
    function_arn: str,
    stream_arn: str,
    request_id: str,
    invoke_count: int,
    function_error: str | None,
    payload: bytes | None = None,
) -> str:
    """The destination record, in AWS's shape. An SQS queue gets the batch's range only; an S3 bucket
    also gets `payload`, the invocation's whole event (the records with their metadata and data) as a
    JSON string."""
    first, last = records[0].record, records[-1].record
    response = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = function_error
    return json.dumps(
        {
            "requestContext": {
                "requestId": request_id,
                "functionArn": function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC).timestamp()),
            "KinesisBatchInfo": {
                "shardId": first.shard_id,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": _iso(first.arrival),
                "approximateArrivalOfLastRecord": _iso(last.arrival),
                "batchSize": len(records),
                "streamArn": stream_arn,
            },
            **({"payload": payload.decode()} if payload is not None else {}),
        }
    )


def s3_object_key(mapping_uuid: str, shard_id: str, now: datetime | None = None) -> str:
    """Where Lambda writes a stream batch's failure record in an S3 destination:
    aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>."""
    now = now or datetime.now(UTC)
    return f"aws/lambda/{mapping_uuid}/{shard_id}/{now:%Y/%m/%d}/{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
