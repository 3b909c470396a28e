"""Validation of Create/UpdateEventSourceMapping parameters for Kinesis sources, with AWS's limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from emulator.lambda_.errors import invalid_parameter
from emulator.lambda_.esm.filters import RecordFilter, check_filter_criteria, record_filter

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
_KINESIS_ARN = re.compile(r"arn:aws:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}\Z")
# an enhanced fan-out consumer of a stream (RegisterStreamConsumer): Lambda subscribes to its shards
_CONSUMER_ARN = re.compile(
    r"arn:aws:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}/consumer/[a-zA-Z0-9_.-]{1,128}:\d+\Z"
)
_SQS_ARN = re.compile(r"arn:aws:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9_-]{1,80}(\.fifo)?\Z")
S3_ARN_PREFIX = "arn:aws:s3:::"
_S3_ARN = re.compile(r"arn:aws:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
# what UpdateEventSourceMapping may change; the source and starting position are fixed at creation
UPDATABLE = (
    "FunctionName",
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ParallelizationFactor",
    "FunctionResponseTypes",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
    "FilterCriteria",
)


@dataclass(frozen=True)
class PollSettings:
    """The settings a shard poller runs with (a snapshot of the mapping when it started)."""

    function_name: str
    stream_arn: str  # the stream read, also when the mapping's source is a consumer of it
    batch_size: int
    batching_window_s: float
    parallelization: int
    report_item_failures: bool
    bisect: bool
    max_retries: int  # -1: until the records expire
    max_record_age_s: int  # -1: no limit
    on_failure: str | None  # SQS queue or S3 bucket ARN
    filters: RecordFilter | None = None  # None: every record is delivered
    push: bool = False  # enhanced fan-out: records are read as they arrive instead of on a poll interval


def _int(params: dict, field: str, default: int, low: int, high: int, also: int | None = None) -> int:
    value = params.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high or value == also):
        allowed = f"between {low} and {high}" + (f", or {also}" if also is not None else "")
        raise invalid_parameter(f"{field} must be an integer {allowed}, got {value!r}.")
    return value


def _bool(params: dict, field: str, default: bool) -> bool:
    value = params.get(field, default)
    if not isinstance(value, bool):
        raise invalid_parameter(f"{field} must be true or false, got {value!r}.")
    return value


def is_consumer_arn(arn: str) -> bool:
    return bool(_CONSUMER_ARN.match(arn))


def check_source(params: dict) -> dict:
    """The creation-only fields: EventSourceArn and where in the stream to start."""
    arn = params.get("EventSourceArn")
    if not isinstance(arn, str) or not (_KINESIS_ARN.match(arn) or _CONSUMER_ARN.match(arn)):
        raise invalid_parameter(
            "EventSourceArn must be a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)"
            " or a stream consumer ARN (<stream ARN>/consumer/<name>:<creation epoch>)"
            f"; got {arn!r}. Only Kinesis event sources are emulated."
        )
    position = params.get("StartingPosition")
    if position not in STARTING_POSITIONS:
        raise invalid_parameter(
            f"StartingPosition must be one of {', '.join(STARTING_POSITIONS)} for a Kinesis event source, "
            f"got {position!r}."
        )
    source = {"EventSourceArn": arn, "StartingPosition": position}
    if position == "AT_TIMESTAMP":
        timestamp = params.get("StartingPositionTimestamp")
        if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
            raise invalid_parameter(
                "StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP, "
                f"got {timestamp!r}."
            )
        source["StartingPositionTimestamp"] = float(timestamp)
    for unsupported in ("TumblingWindowInSeconds", "Topics", "Queues"):
        if params.get(unsupported):
            raise invalid_parameter(f"{unsupported} is not emulated for Kinesis event sources.")
    return source


def check_settings(params: dict) -> dict:
    """The updatable fields, with AWS's defaults filled in for anything absent from `params`."""
    response_types = params.get("FunctionResponseTypes") or []
    if not isinstance(response_types, list) or set(response_types) - {"ReportBatchItemFailures"}:
        raise invalid_parameter(
            f"FunctionResponseTypes may only contain 'ReportBatchItemFailures', got {response_types!r}."
        )
    destination = ((params.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination is not None and not (_SQS_ARN.match(str(destination)) or _S3_ARN.match(str(destination))):
        raise invalid_parameter(
            f"DestinationConfig.OnFailure.Destination must be an SQS queue or S3 bucket ARN, got "
            f"{destination!r} (SNS and other destinations are not emulated)."
        )
    return {
        "Enabled": _bool(params, "Enabled", True),
        "BatchSize": _int(params, "BatchSize", 100, 1, 10000),
        "MaximumBatchingWindowInSeconds": _int(params, "MaximumBatchingWindowInSeconds", 0, 0, 300),
        "ParallelizationFactor": _int(params, "ParallelizationFactor", 1, 1, 10),
        "FunctionResponseTypes": list(dict.fromkeys(response_types)),
        "BisectBatchOnFunctionError": _bool(params, "BisectBatchOnFunctionError", False),
        "MaximumRetryAttempts": _int(params, "MaximumRetryAttempts", -1, 0, 10000, also=-1),
        "MaximumRecordAgeInSeconds": _int(params, "MaximumRecordAgeInSeconds", -1, 60, 604800, also=-1),
        "DestinationConfig": {"OnFailure": {"Destination": destination} if destination else {}},
        "FilterCriteria": check_filter_criteria(params.get("FilterCriteria")),
    }


def poll_settings(record: dict, function_name: str, stream_arn: str) -> PollSettings:
    """`stream_arn`: the stream the mapping's source is, or is a consumer of."""
    return PollSettings(
        function_name=function_name,
        stream_arn=stream_arn,
        batch_size=record["BatchSize"],
        batching_window_s=float(record["MaximumBatchingWindowInSeconds"]),
        parallelization=record["ParallelizationFactor"],
        report_item_failures="ReportBatchItemFailures" in record["FunctionResponseTypes"],
        bisect=record["BisectBatchOnFunctionError"],
        max_retries=record["MaximumRetryAttempts"],
        max_record_age_s=record["MaximumRecordAgeInSeconds"],
        on_failure=record["DestinationConfig"]["OnFailure"].get("Destination"),
        filters=record_filter(record.get("FilterCriteria")),
        push=is_consumer_arn(record["EventSourceArn"]),
    )


def merged_update(record: dict, params: dict[str, Any]) -> dict:
    """The settings after an update: only the fields given change."""
    unknown = set(params) - set(UPDATABLE) - {"UUID"}
    if unknown:
        raise invalid_parameter(f"UpdateEventSourceMapping cannot change {', '.join(sorted(unknown))}.")
    current = {field: record.get(field) for field in UPDATABLE if field != "FunctionName"}
    return check_settings({**current, **{k: v for k, v in params.items() if k != "FunctionName"}})
