"""The run tags a sensor's run carries: whole reasons, a bounded set of figures, Dagster-valid values."""

import dagster as dg

from jobs.tags import DECISION, MAX_STATISTICS, REASON, SENSOR, STATISTIC_PREFIX, decision_tags


def test_a_decision_carries_sensor_decision_whole_reason_and_figures():
    reason = "guardrail breached: " + "; ".join(f"check {i} failed" for i in range(40))  # ~600 chars
    tags = decision_tags(
        "ab_test_sensor", "ROLLBACK", reason, {"p_value": 0.000123456, "n": 812}, candidate="v2"
    )
    assert tags[SENSOR] == "ab_test_sensor" and tags[DECISION] == "ROLLBACK"
    assert tags[REASON] == reason  # never cut
    assert tags[f"{STATISTIC_PREFIX}p_value"] == "0.0001235" and tags[f"{STATISTIC_PREFIX}n"] == "812"
    assert tags["rtinfer/candidate"] == "v2"
    dg.RunRequest(run_key="k", tags=tags)  # Dagster accepts every key and value


def test_only_numbers_become_figures():
    statistics = {"verdict": "CONTINUE", "reason": "waiting for outcomes", "p_value": 1.0, "flag": True}
    tags = decision_tags("ab_test_sensor", "ROLLBACK", "guardrail breached", statistics)
    assert [key for key in tags if key.startswith(STATISTIC_PREFIX)] == [f"{STATISTIC_PREFIX}p_value"]


def test_only_the_first_figures_are_kept():
    statistics = {f"figure_{i}": float(i) for i in range(20)}
    tags = decision_tags("endpoint_health_sensor", "ROLLBACK", "p99 latency 900 ms", statistics)
    figures = [key for key in tags if key.startswith(STATISTIC_PREFIX)]
    assert figures == [f"{STATISTIC_PREFIX}figure_{i}" for i in range(MAX_STATISTICS)]
