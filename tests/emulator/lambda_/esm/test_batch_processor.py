"""Lambda's stream error-handling rules on one batch, with a stand-in function (no processes, fast)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable

from emulator.kinesis.backend import StreamRecord
from emulator.lambda_.esm.batch_processor import BatchProcessor, NotInvoked, Segment
from emulator.lambda_.esm.config import PollSettings
from emulator.lambda_.esm.kinesis_event import event_record
from emulator.lambda_.esm.on_failure import RECORD_AGE_EXCEEDED, RETRIES_EXHAUSTED
from emulator.lambda_.esm.stats import MappingStats
from emulator.lambda_.runtime_api import Outcome, error_outcome
from emulator.lambda_.workers import Report

STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/s"


def records(data: list[str], age_s: float = 0.0):
    arrival = time.time() - age_s
    return [
        event_record(
            StreamRecord("shardId-000000000000", f"{4900 + i:056d}", "k", d.encode(), arrival),
            STREAM,
            "us-east-1",
            "",
        )
        for i, d in enumerate(data)
    ]


def settings(**overrides) -> PollSettings:
    values = {
        "function_name": "f",
        "stream_arn": STREAM,
        "batch_size": 100,
        "batching_window_s": 0.0,
        "parallelization": 1,
        "report_item_failures": False,
        "bisect": False,
        "max_retries": -1,
        "max_record_age_s": -1,
        **overrides,
    }
    return PollSettings(on_failure=None, **values)


class Harness:
    """Runs a batch against `function(list of data) -> Outcome` and records calls and give-ups."""

    def __init__(self, function: Callable[[list[str]], Outcome], **overrides) -> None:
        self.calls: list[list[str]] = []
        self.given_up: list[tuple[list[str], str, int]] = []
        self.stats = MappingStats()

        def invoke(payload: bytes) -> Report:
            batch = [base64.b64decode(r["kinesis"]["data"]).decode() for r in json.loads(payload)["Records"]]
            self.calls.append(batch)
            return Report(f"req-{len(self.calls)}", function(batch))

        def give_up(segment: Segment, condition: str) -> None:
            data = [r.record.data.decode() for r in segment.records]
            self.given_up.append((data, condition, segment.invokes))

        self.processor = BatchProcessor(settings(**overrides), invoke, give_up, self.stats, threading.Event())

    def run(self, data: list[str], age_s: float = 0.0) -> bool:
        return self.processor.process(records(data, age_s))


def fails_on(poison: str) -> Callable[[list[str]], Outcome]:
    return lambda batch: error_outcome("ValueError", "poison") if poison in batch else Outcome(b"null")


def test_bisect_isolates_the_poison_record_without_consuming_retries():
    harness = Harness(fails_on("p"), bisect=True, max_retries=0)
    assert harness.run(["a", "b", "p", "d"])
    assert harness.calls == [["a", "b", "p", "d"], ["a", "b"], ["p", "d"], ["p"], ["d"]]
    assert harness.given_up == [(["p"], RETRIES_EXHAUSTED, 3)]


def test_retries_then_gives_up_the_whole_batch():
    harness = Harness(fails_on("p"), max_retries=2)
    assert harness.run(["a", "p"])
    assert len(harness.calls) == 3
    assert harness.given_up == [(["a", "p"], RETRIES_EXHAUSTED, 3)]
    assert harness.stats.snapshot()["retries"] == 2


def test_records_older_than_the_maximum_age_are_given_up_unprocessed():
    harness = Harness(fails_on("never"), max_record_age_s=60)
    assert harness.run(["old"], age_s=120)
    assert harness.calls == []
    assert harness.given_up == [(["old"], RECORD_AGE_EXCEEDED, 0)]


def test_partial_failure_retries_from_the_lowest_failed_sequence_number():
    seen: list[int] = []

    def function(batch: list[str]) -> Outcome:
        seen.append(len(batch))
        if len(seen) == 1:  # report the 4th and the 2nd (in that order) as failed
            failures = [{"itemIdentifier": f"{4900 + i:056d}"} for i in (3, 1)]
            return Outcome(json.dumps({"batchItemFailures": failures}).encode())
        return Outcome(b'{"batchItemFailures": []}')

    harness = Harness(function, report_item_failures=True)
    assert harness.run(["a", "b", "c", "d"])
    assert harness.calls == [["a", "b", "c", "d"], ["b", "c", "d"]]


def test_malformed_item_failures_fail_the_whole_batch():
    answers = iter([b'{"batchItemFailures": [{"itemIdentifier": ""}]}', b"null"])
    harness = Harness(lambda batch: Outcome(next(answers)), report_item_failures=True)
    assert harness.run(["a", "b"])
    assert harness.calls == [["a", "b"], ["a", "b"]]
    assert harness.stats.snapshot()["failed_invocations"] == 1


def test_a_function_that_cannot_be_invoked_does_not_consume_retries():
    attempts = iter([NotInvoked("Function not found"), None])

    def function(batch: list[str]) -> Outcome:
        problem = next(attempts)
        if problem:
            raise problem
        return Outcome(b"null")

    harness = Harness(function, max_retries=0)
    assert harness.run(["a"])
    assert harness.given_up == []
    assert harness.calls == [["a"], ["a"]]
