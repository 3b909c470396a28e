"""AWS/Kinesis stream-level metrics per StreamName, as Kinesis publishes them for PutRecord/PutRecords.

IncomingRecords (Count) and IncomingBytes (Bytes): what was written successfully, one sample per call.
PutRecord.Success (Count, 1 or 0 per call), PutRecord.Bytes; PutRecords.Success (Count: 1 when any
record of the call was written), PutRecords.Bytes, PutRecords.TotalRecords, .SuccessfulRecords (and
its older name PutRecords.Records), .FailedRecords, .ThrottledRecords (Count);
WriteProvisionedThroughputExceeded (Count, throttled records).
A record's bytes are its data plus its partition key: what counts against a shard's 1 MiB/s and what
PUT payload units are billed on.
"""

from __future__ import annotations

from collections.abc import Sequence

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.kinesis.backend import PutEntry, stream_name

NAMESPACE = "AWS/Kinesis"
_THROTTLED = "ProvisionedThroughputExceededException"


def publish_put(
    publisher: MetricPublisher, stream: str, operation: str, entries: Sequence[PutEntry], results: list[dict]
) -> None:
    """One PutRecord or PutRecords call (`operation`) and its per-record results."""
    dims = (("StreamName", stream_name(stream)),)
    written = [e for e, r in zip(entries, results, strict=True) if "ErrorCode" not in r]
    written_bytes = sum(len(e.data) + len(e.partition_key.encode()) for e in written)
    throttled = sum(r.get("ErrorCode") == _THROTTLED for r in results)

    def add(name: str, unit: str, value: float) -> None:
        publisher.add(NAMESPACE, name, dims, unit, value)

    add("IncomingRecords", "Count", len(written))
    add("IncomingBytes", "Bytes", written_bytes)
    add(f"{operation}.Success", "Count", float(bool(written)))
    add(f"{operation}.Bytes", "Bytes", written_bytes)
    add("WriteProvisionedThroughputExceeded", "Count", throttled)
    if operation == "PutRecords":
        add("PutRecords.TotalRecords", "Count", len(results))
        add("PutRecords.SuccessfulRecords", "Count", len(written))
        add("PutRecords.Records", "Count", len(written))  # the older name of SuccessfulRecords
        add("PutRecords.FailedRecords", "Count", len(results) - len(written) - throttled)
        add("PutRecords.ThrottledRecords", "Count", throttled)
