"""The record Lambda sends to an OnFailure destination when it gives up on a Kinesis batch."""

from __future__ import annotations

import json
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
) -> str:
    """The message body, in AWS's shape (the records themselves are not included, only their range)."""
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
        }
    )
