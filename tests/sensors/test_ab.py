"""The A/B sensor (sensors/ab.py), evaluated as Dagster evaluates it, over real services (the emulator):
it rolls back a clearly worse candidate on the sequential test, once. Predictions are written as the
consumer writes them (audit objects) and labels straight into the real table."""

import json
import time
from itertools import count

import numpy as np

from orchestration.wiring.resources import MonitoringTargets
from sensors.ab import ab_test_sensor

DAY_MS = 86_400_000
_SEQUENCE = count(10**30)


def _write(dynamodb, table: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        )


def _traffic(
    world, n_per_arm: int, candidate_misses_frauds: bool, seed: int, prefix: str, store_audit_rows
) -> None:
    """Matured predictions of both arms: the candidate either matches production or misses every fraud."""
    rng = np.random.default_rng(seed)
    now = int(time.time() * 1000)
    predictions, labels = [], []
    for arm in ("production", "candidate"):
        fraud = rng.uniform(size=n_per_arm) < 0.05
        for i in range(n_per_arm):
            caught = fraud[i] and not (arm == "candidate" and candidate_misses_frauds)
            request_id = f"{prefix}-{arm}-{i}"
            event_ms = 1_000_000_000_000 + i * 1000
            predictions.append(
                {
                    "request_id": request_id,
                    "shard_id": "shardId-000000000000",
                    "sequence_number": str(next(_SEQUENCE)),
                    "variant": arm,
                    "amount": 10.0,
                    "score": 0.9 if caught else 0.1,
                    "decision": "decline" if caught else "approve",
                    "fallback": False,
                    "latency_ms": 900,
                    "event_ms": event_ms,
                    "arrival_ms": now,
                    "predicted_ms": now,
                    "model_version": arm,
                }
            )
            labels.append(
                {
                    "request_id": {"S": request_id},
                    "is_fraud": {"BOOL": bool(fraud[i])},
                    "event_ms": {"N": str(event_ms)},
                    "label_available_ms": {"N": str(event_ms + DAY_MS)},
                }
            )
    # One late event moves the replay clock past every label's availability.
    predictions.append(
        {
            **predictions[0],
            "request_id": f"{prefix}-clock",
            "sequence_number": str(next(_SEQUENCE)),
            "event_ms": 1_000_000_000_000 + 10 * DAY_MS,
        }
    )
    store_audit_rows(world.client("s3"), world.targets.audit_bucket, predictions, per_object=500)
    _write(world.client("dynamodb"), world.targets.labels_table, labels)


def test_ab_sensor_rolls_back_a_clearly_worse_candidate_once(ab_world, monkeypatch, store_audit_rows):
    endpoint = ab_world.targets.endpoint_name
    _traffic(
        ab_world,
        1500,
        candidate_misses_frauds=True,
        seed=1,
        prefix="worse",
        store_audit_rows=store_audit_rows,
    )
    result, cursor, seconds = ab_world.evaluate(ab_test_sensor, monkeypatch)
    [request] = result.run_requests
    assert request.job_name == "rollback"
    assert request.run_key == f"ab:{endpoint}:s-v2:ROLLBACK"
    assert request.run_config == {"ops": {"roll_back": {"config": {"endpoint_name": endpoint}}}}
    [observation] = result.asset_events
    assert observation.metadata["verdict"].value == "ROLLBACK"
    assert seconds < 30  # well inside a sensor tick's 60 s

    state = json.loads(cursor)["state"]
    again, next_cursor, _ = ab_world.evaluate(ab_test_sensor, monkeypatch, cursor)  # nothing new matured
    kept = json.loads(next_cursor)["state"]
    assert {k: v for k, v in kept.items() if k != "looks"} == {k: v for k, v in state.items() if k != "looks"}
    assert [r.run_key for r in again.run_requests] == [
        f"ab:{endpoint}:s-v2:ROLLBACK"
    ]  # same key: launched once


def test_ab_sensor_skips_with_the_reason_when_no_ab_test_runs(ab_world, monkeypatch):
    known = ab_world.targets
    elsewhere = MonitoringTargets(
        endpoint_name="never-deployed",
        audit_bucket=known.audit_bucket,
        labels_table=known.labels_table,
        dead_letter_queue=known.dead_letter_queue,
    )
    result, cursor, _ = ab_world.evaluate(ab_test_sensor, monkeypatch, targets=elsewhere)
    assert result.skip_message == "no A/B test in progress on never-deployed (mode none)"
    assert json.loads(cursor)["candidate_arn"] is None
