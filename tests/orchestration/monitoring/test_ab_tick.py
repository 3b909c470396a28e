"""One A/B sensor tick as a plain function, over the emulator's S3 (deployment history) and DynamoDB
(predictions, labels): the reason when there is no test, the cursor's reset on a new candidate, and a
tick reading only outcomes that matured since the last one."""

import contextlib
import json
import math
import time

import pytest

from orchestration.endpoint.history import DeploymentHistory, RolloutResult
from orchestration.monitoring.ab_test import ABState, Verdict
from orchestration.monitoring.ab_tick import ab_tick
from orchestration.stream.stack import ensure_table

DAY_MS = 86_400_000
T0 = 1_000_000_000_000


@pytest.fixture
def world(emulator, request):
    name = "tick-" + request.node.name.removeprefix("test_")[:30].replace("_", "-")
    s3, dynamodb = emulator.client("s3"), emulator.client("dynamodb")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=emulator.settings.bucket)
    ensure_table(dynamodb, f"{name}-p", "request_id")
    ensure_table(dynamodb, f"{name}-l", "request_id")
    history = DeploymentHistory(s3, emulator.settings, name)

    def tick(cursor=None):
        return ab_tick(
            dynamodb,
            s3,
            emulator.client("cloudwatch"),
            emulator.settings,
            name,
            f"{name}-p",
            f"{name}-l",
            cursor,
        )

    return name, history, dynamodb, tick


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


def _outcomes(dynamodb, name: str, prefix: str, n_per_arm: int, label_day: int) -> None:
    """n matured predictions per arm (identical arms), their labels available on `label_day`, and a late
    event that moves the replay clock to that day."""
    now = int(time.time() * 1000)
    predictions, labels = [], []
    for arm in ("production", "candidate"):
        for i in range(n_per_arm):
            request_id = f"{prefix}-{arm}-{i}"
            fraud = i % 4 == 0
            predictions.append(
                {
                    "request_id": {"S": request_id},
                    "variant": {"S": arm},
                    "score": {"N": "0.9" if fraud else "0.1"},
                    "decision": {"S": "decline" if fraud else "approve"},
                    "fallback": {"BOOL": False},
                    "latency_ms": {"N": "50"},
                    "event_ms": {"N": str(T0 + i)},
                    "arrival_ms": {"N": str(now)},
                    "predicted_ms": {"N": str(now)},
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
    clock = {
        **predictions[0],
        "request_id": {"S": f"{prefix}-clock"},
        "event_ms": {"N": str(T0 + label_day * DAY_MS)},
    }
    for table, items in ((f"{name}-p", [*predictions, clock]), (f"{name}-l", labels)):
        for start in range(0, len(items), 25):
            dynamodb.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
            )


def test_no_ab_test_is_a_reason_not_a_verdict(world):
    name, history, _, tick = world
    result = tick()
    assert (result.verdict, result.reason) == (None, f"no A/B test in progress on {name} (mode none)")
    history.append(_layout("single"))
    assert tick().reason == f"no A/B test in progress on {name} (mode single)"
    assert json.loads(tick().cursor)["candidate_arn"] is None


def test_a_test_without_predictions_continues(world):
    _, history, _, tick = world
    history.append(_layout("ab", "c1"))
    result = tick()
    assert (result.verdict, result.reason) == (
        Verdict.CONTINUE,
        "waiting for traffic: no predictions since the test started",
    )
    assert json.loads(result.cursor)["candidate_arn"] == "arn:c1"


def test_each_tick_reads_only_newly_matured_outcomes(world):
    name, history, dynamodb, tick = world
    history.append(_layout("ab", "c1"))
    _outcomes(dynamodb, name, "first", 12, label_day=1)
    first = tick()
    assert first.verdict == Verdict.CONTINUE and first.breaches == []
    state = json.loads(first.cursor)["state"]
    assert (state["candidate"]["n"], state["production"]["n"]) == (12, 12)

    again = json.loads(tick(first.cursor).cursor)["state"]  # nothing new matured: nothing counted twice
    assert (again["candidate"]["n"], again["production"]["n"]) == (12, 12)
    assert again["looks"] == state["looks"] + 1

    _outcomes(dynamodb, name, "second", 5, label_day=2)
    later = json.loads(tick(first.cursor).cursor)
    assert (later["state"]["candidate"]["n"], later["state"]["production"]["n"]) == (17, 17)
    assert later["as_of_ms"] == T0 + 2 * DAY_MS


def test_a_new_candidate_starts_a_new_test(world):
    name, history, dynamodb, tick = world
    history.append(_layout("ab", "c1"))
    _outcomes(dynamodb, name, "old", 8, label_day=1)
    old_cursor = tick().cursor
    assert json.loads(old_cursor)["state"]["candidate"]["n"] == 8

    history.append(_layout("ab", "c2"))  # the predictions so far were made before c2's test started
    fresh = json.loads(tick(old_cursor).cursor)
    assert fresh == {"candidate_arn": "arn:c2", "as_of_ms": None, "state": ABState().to_dict()}


def test_figures_with_no_matured_outcomes_behind_them_are_left_out_not_nan(world):
    name, history, dynamodb, tick = world
    history.append(_layout("ab", "c1"))
    _outcomes(dynamodb, name, "unripe", 12, label_day=1)
    for arm in ("production", "candidate"):  # the labels have not arrived: nothing has matured
        for i in range(12):
            dynamodb.delete_item(TableName=f"{name}-l", Key={"request_id": {"S": f"unripe-{arm}-{i}"}})
    result = tick()
    assert result.verdict == Verdict.CONTINUE
    assert result.reason == "waiting for 100 matured outcomes per arm: candidate has 0, production 0"
    numbers = {k: v for k, v in result.statistics.items() if isinstance(v, int | float)}
    assert numbers and all(math.isfinite(v) for v in numbers.values()), result.statistics
    # The label-free figures of the window come first: they are what a guardrail rollback acted on.
    assert list(result.statistics)[:2] == ["candidate_requests", "candidate_errors"]
    assert result.statistics["candidate_requests"] == 12 and result.statistics["candidate_error_rate"] == 0
