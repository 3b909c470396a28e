"""One A/B sensor tick as a plain function, over the emulator's S3 (deployment history, audit objects)
and DynamoDB (labels): the reason when there is no test, the cursor's reset on a new candidate, a tick
counting only outcomes that matured since the last one, and the cursor moving past settled objects."""

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

import pytest

from orchestration.endpoint.history import DeploymentHistory, RolloutResult
from orchestration.monitoring.ab_test import ABState, Verdict
from orchestration.monitoring.ab_tick import AUDIT_LATENESS_MS, ab_tick
from orchestration.monitoring.audit_cursor import AuditCursor
from orchestration.monitoring.reads import deployment_started_ms
from orchestration.stream.stack import ensure_bucket, ensure_table
from serving.consumer.audit import time_key

DAY_MS = 86_400_000
T0 = 1_000_000_000_000


@dataclass
class World:
    name: str
    history: DeploymentHistory
    dynamodb: object
    s3: object
    store: Callable
    tick: Callable

    @property
    def bucket(self) -> str:
        return f"{self.name}-audit"


@pytest.fixture
def world(emulator, request, store_audit_rows):
    name = "tick-" + request.node.name.removeprefix("test_")[:30].replace("_", "-")
    s3, dynamodb = emulator.client("s3"), emulator.client("dynamodb")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=emulator.settings.bucket)
    ensure_bucket(s3, f"{name}-audit")
    ensure_table(dynamodb, f"{name}-l", "request_id")
    history = DeploymentHistory(s3, emulator.settings, name)

    def tick(cursor=None, now_ms=None):
        return ab_tick(
            dynamodb,
            s3,
            emulator.client("cloudwatch"),
            emulator.settings,
            name,
            f"{name}-audit",
            f"{name}-l",
            cursor,
            now_ms=now_ms,
        )

    return World(name, history, dynamodb, s3, store_audit_rows, tick)


def _layout(mode: str, candidate: str | None = None) -> RolloutResult:
    return RolloutResult(
        action="set_traffic",
        endpoint_name="e",
        outcome="deployed",
        mode=mode,
        endpoint_config_name="c",
        previous_config_name=None,
        production_version="v1",
        production_arn="arn:v1",
        candidate_version=candidate,
        candidate_arn=f"arn:{candidate}" if candidate else None,
        candidate_weight=0.5 if candidate else None,
    )


_SEQUENCE = count(10**30)


def _outcomes(
    world: World,
    prefix: str,
    n_per_arm: int,
    label_day: int,
    arrival_ms: int | None = None,
    clock: bool = True,
):
    """n predictions per arm (identical arms) in one batch object, their labels available on
    `label_day`, and (with `clock`) a late event that moves the replay clock to that day, so they are
    matured; returns the object's key."""
    now = arrival_ms or int(time.time() * 1000)
    predictions, labels = [], []
    for arm in ("production", "candidate"):
        for i in range(n_per_arm):
            request_id = f"{prefix}-{arm}-{i}"
            fraud = i % 4 == 0
            predictions.append(
                {
                    "request_id": request_id,
                    "shard_id": "shardId-000000000000",
                    "sequence_number": str(next(_SEQUENCE)),
                    "variant": arm,
                    "amount": 10.0,
                    "score": 0.9 if fraud else 0.1,
                    "decision": "decline" if fraud else "approve",
                    "fallback": False,
                    "latency_ms": 50,
                    "event_ms": T0 + i,
                    "arrival_ms": now,
                    "predicted_ms": max(now, int(time.time() * 1000)),
                }
            )
            labels.append(
                {
                    "request_id": {"S": request_id},
                    "is_fraud": {"BOOL": fraud},
                    "event_ms": {"N": str(T0 + i)},
                    "label_available_ms": {"N": str(T0 + label_day * DAY_MS)},
                }
            )
    late_event = {  # a fallback: it matures like the rest but is no arm's outcome
        **predictions[0],
        "request_id": f"{prefix}-clock",
        "sequence_number": str(next(_SEQUENCE)),
        "event_ms": T0 + label_day * DAY_MS,
        "variant": None,
        "fallback": True,
    }
    rows = predictions
    if clock:
        rows = [*predictions, late_event]
        labels.append(
            {
                "request_id": {"S": late_event["request_id"]},
                "is_fraud": {"BOOL": False},
                "event_ms": {"N": str(late_event["event_ms"])},
                "label_available_ms": {"N": str(late_event["event_ms"])},
            }
        )
    table = f"{world.name}-l"
    for start in range(0, len(labels), 25):
        world.dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": item}} for item in labels[start : start + 25]]}
        )
    (key,) = world.store(world.s3, world.bucket, rows, per_object=10_000)
    return key


def test_no_ab_test_is_a_reason_not_a_verdict(world):
    name, history, tick = world.name, world.history, world.tick
    result = tick()
    assert (result.verdict, result.reason) == (None, f"no A/B test in progress on {name} (mode none)")
    history.append(_layout("single"))
    assert tick().reason == f"no A/B test in progress on {name} (mode single)"
    assert json.loads(tick().cursor)["candidate_arn"] is None


def test_a_test_without_predictions_continues(world):
    history, tick = world.history, world.tick
    history.append(_layout("ab", "c1"))
    result = tick()
    assert (result.verdict, result.reason) == (
        Verdict.CONTINUE,
        "waiting for traffic: no predictions since the test started",
    )
    assert json.loads(result.cursor)["candidate_arn"] == "arn:c1"


def test_each_tick_reads_only_newly_matured_outcomes(world):
    history, tick = world.history, world.tick
    history.append(_layout("ab", "c1"))
    _outcomes(world, "first", 12, label_day=1)
    first = tick()
    assert first.verdict == Verdict.CONTINUE and first.breaches == []
    state = json.loads(first.cursor)["state"]
    assert (state["candidate"]["n"], state["production"]["n"]) == (12, 12)

    again = json.loads(tick(first.cursor).cursor)["state"]  # nothing new matured: nothing counted twice
    assert (again["candidate"]["n"], again["production"]["n"]) == (12, 12)
    assert again["looks"] == state["looks"] + 1

    _outcomes(world, "second", 5, label_day=2)
    later = json.loads(tick(first.cursor).cursor)
    assert (later["state"]["candidate"]["n"], later["state"]["production"]["n"]) == (17, 17)
    assert later["audit"]["as_of_ms"] == T0 + 2 * DAY_MS


def test_a_new_candidate_starts_a_new_test(world):
    history, tick = world.history, world.tick
    history.append(_layout("ab", "c1"))
    _outcomes(world, "old", 8, label_day=1)
    old_cursor = tick().cursor
    assert json.loads(old_cursor)["state"]["candidate"]["n"] == 8

    history.append(_layout("ab", "c2"))  # the predictions so far were made before c2's test started
    fresh = json.loads(tick(old_cursor).cursor)
    started = deployment_started_ms(history.current())
    assert fresh == {
        "candidate_arn": "arn:c2",
        "audit": AuditCursor.starting(started, AUDIT_LATENESS_MS).to_dict(),
        "state": ABState().to_dict(),
    }


def test_figures_with_no_matured_outcomes_behind_them_are_left_out_not_nan(world):
    history, tick = world.history, world.tick
    history.append(_layout("ab", "c1"))
    _outcomes(world, "unripe", 12, label_day=1)
    for arm in ("production", "candidate"):  # the labels have not arrived: nothing has matured
        for i in range(12):
            world.dynamodb.delete_item(
                TableName=f"{world.name}-l", Key={"request_id": {"S": f"unripe-{arm}-{i}"}}
            )
    result = tick()
    assert result.verdict == Verdict.CONTINUE
    assert result.reason == "waiting for 100 matured outcomes per arm: candidate has 0, production 0"
    numbers = {k: v for k, v in result.statistics.items() if isinstance(v, int | float)}
    assert numbers and all(math.isfinite(v) for v in numbers.values()), result.statistics
    # The label-free figures of the window come first: they are what a guardrail rollback acted on.
    assert list(result.statistics)[:2] == ["candidate_requests", "candidate_errors"]
    assert result.statistics["candidate_requests"] == 12 and result.statistics["candidate_error_rate"] == 0


def test_the_cursor_moves_past_settled_objects_only_and_a_late_one_still_counts(world):
    history, tick = world.history, world.tick
    history.append(_layout("ab", "c1"))
    now = int(time.time() * 1000)
    early = _outcomes(world, "early", 6, label_day=1, arrival_ms=now)
    unripe = _outcomes(world, "unripe", 3, label_day=5, arrival_ms=now + 1000, clock=False)
    # within the lateness window nothing is settled: the cursor stays where the test started
    first = json.loads(tick(now_ms=now + 2000).cursor)
    assert first["audit"]["start_after"] < early and (first["state"]["candidate"]["n"]) == 6
    # past it: the cursor moves past the fully matured object, and stops below the unripe one
    settled_at = now + 2000 + AUDIT_LATENESS_MS
    second = json.loads(tick(json.dumps(first), now_ms=settled_at).cursor)
    assert second["audit"]["start_after"] == early < unripe
    assert second["state"]["candidate"]["n"] == 6  # nothing counted twice
    # a batch that arrived before the cursor's object but appears only now, within the lateness,
    # counts: the cursor had not moved past it
    late = _outcomes(world, "late", 2, label_day=1, arrival_ms=settled_at - AUDIT_LATENESS_MS + 10)
    assert second["audit"]["start_after"] < late
    third = json.loads(tick(json.dumps(second), now_ms=settled_at + 1).cursor)
    assert third["state"]["candidate"]["n"] == 6 + 2
    assert third["audit"]["start_after"] <= time_key(settled_at + 1 - AUDIT_LATENESS_MS)
