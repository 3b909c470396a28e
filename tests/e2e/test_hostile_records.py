"""Each kind of record that once broke the stream path, put on a real input stream and followed through
the event-source mapping, the packaged consumer and its sinks to where it ends. Prints the table the
stream path's guarantee is judged by: every record in exactly one place, none in the batch-failure queue.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from orchestration.stream.accounting import queue_depth
from orchestration.stream.audit_log import AuditReader
from orchestration.stream.dead_letters import RECEIVE_ARGUMENTS, read_dead_letter

NOW = datetime.now(tz=UTC)


def _event(request_id: str, **overrides) -> dict:
    return {
        "request_id": request_id,
        "customer_id": "C-hostile",
        "terminal_id": "T-hostile",
        "merchant_category": "grocery",
        "amount": 25.0,
        "timestamp": NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "device_id": "dev-1",
        "distance_from_home": 1.5,
        **overrides,
    }


def _json(payload: dict) -> bytes:
    return json.dumps(payload).encode()


# kind -> (records' data, the place each must end: "row" or the start of its letter's reason)
KINDS: dict[str, tuple[list[bytes], list[str]]] = {
    "valid": ([_json(_event("ok-1"))], ["row"]),
    "huge integer amount": (
        [_json(_event("big-amount", amount=10**400))],
        ["schema: field 'amount': must be between"],
    ),
    "customer id over 256 characters": (
        [_json(_event("long-id", customer_id="C" * 300))],
        ["schema: field 'customer_id': is longer than 128 characters"],
    ),
    "duplicate request id in one batch": (
        [_json(_event("dup-1")), _json(_event("dup-1", amount=99.0))],
        ["row", "duplicate: request_id 'dup-1' is already in this batch"],
    ),
    "lone surrogate in an id": (
        [json.dumps(_event("surrogate", device_id="\ud800")).encode()],
        ["schema: field 'device_id': is not valid Unicode"],
    ),
    "far-future timestamp": (
        [_json(_event("future", timestamp="9999-12-31T23:59:59Z"))],
        ["schema: field 'timestamp': must be between"],
    ),
    "deeply nested JSON": ([b"[" * 100_000 + b"]" * 100_000], ["could not be decided: RecursionError"]),
    "not JSON": ([b"{not json"], ["not JSON"]),
    "300 KB of text that is not JSON": ([b"x" * 300_000], ["not JSON"]),
    "1 MiB record of emoji (3 MiB once escaped)": (
        [("🙂" * (1024 * 1024 // 4 - 16)).encode()],  # with the partition key, under 1 MiB
        ["not JSON"],
    ),
    "JSON that is not an object": ([b"[1, 2]"], ["schema: field '<record>': must be a JSON object"]),
}


def _letters(sqs, s3, queue_url: str) -> list[dict]:
    letters = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, **RECEIVE_ARGUMENTS
        )
        if not batch.get("Messages"):
            return letters
        letters += [read_dead_letter(message, s3).body for message in batch["Messages"]]


def _put_as_a_producer_does(kinesis, stream: str, entries: list[dict]) -> dict[int, str]:
    """PutRecords, resending what the shard's 1 MiB/s write limit refused a second later; returns each
    entry's sequence number. The small records go in the first call, so they share a batch."""
    sequence_of: dict[int, str] = {}
    pending = list(range(len(entries)))
    deadline = time.monotonic() + 60
    while pending:
        put = kinesis.put_records(StreamName=stream, Records=[entries[i] for i in pending])
        for index, result in zip(pending, put["Records"], strict=True):
            if "SequenceNumber" in result:
                sequence_of[index] = result["SequenceNumber"]
            else:
                assert result["ErrorCode"] == "ProvisionedThroughputExceededException", result
        pending = [index for index in pending if index not in sequence_of]
        assert time.monotonic() < deadline, f"{len(pending)} records still refused"
        time.sleep(1.0 if pending else 0)
    return sequence_of


def test_each_hostile_kind_ends_in_exactly_one_place(stream_world):
    spec, stack = stream_world.new_stack(input_shards=1)
    kinesis, sqs = stream_world.client("kinesis"), stream_world.client("sqs")
    entries, expected = [], {}
    for kind, (datas, places) in KINDS.items():
        for data, place in zip(datas, places, strict=True):
            entries.append({"Data": data, "PartitionKey": "hostile"})
            expected[len(entries) - 1] = (kind, place)
    sequence_of = _put_as_a_producer_does(kinesis, spec.input_stream, entries)

    rows_expected = sum(place == "row" for _, place in expected.values())
    deadline = time.monotonic() + 120
    reader = AuditReader(stream_world.client("s3"), spec.audit_bucket)  # reads each object once
    while True:
        rows = reader.rows_after(None)
        if len(rows) + queue_depth(sqs, stack.dead_letter_queue_url) >= len(entries):
            break
        assert time.monotonic() < deadline, f"{len(rows)} rows after 120 s"
        time.sleep(0.5)
    letters = {
        letter["sequence_number"]: letter
        for letter in _letters(sqs, stream_world.client("s3"), stack.dead_letter_queue_url)
    }
    row_sequences = {row["sequence_number"] for _, row in rows}

    table = []
    for index, (kind, place) in expected.items():
        sequence = sequence_of[index]
        ended = "row" if sequence in row_sequences else letters.get(sequence, {}).get("reason", "nowhere")
        table.append((kind, ended))
        assert ended.startswith(place), (kind, ended)
    print("\n" + "\n".join(f"{kind:44} {ended[:80]}" for kind, ended in table))
    assert len(rows) == rows_expected and len(letters) == len(entries) - rows_expected
    assert queue_depth(sqs, stack.batch_failure_queue_url) == 0
