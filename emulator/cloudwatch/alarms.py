"""Metric alarms: definitions with CloudWatch's validation, state, and periodic evaluation.

Each alarm is evaluated once per `Period` × RTINFER_TIME_SCALE (at least every second) over its last
EvaluationPeriods windows, ending METRIC_LAG_S in the past because metrics published by the emulator
land up to a second after the fact. A state set with SetAlarmState holds until the next evaluation,
as on AWS.
"""

from __future__ import annotations

import copy
import json
import threading
import time

from emulator.cloudwatch.metrics import MetricStore, dimensions_key
from emulator.cloudwatch.statistics import check_statistic, is_percentile
from emulator.protocol.errors import AwsError, validation_exception
from emulator.state import Database
from emulator.timescale import scaled

ACCOUNT = "000000000000"
METRIC_LAG_S = 1.5
MIN_EVALUATION_S = 1.0
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
_SCHEMA = "CREATE TABLE IF NOT EXISTS cw_alarms (name TEXT PRIMARY KEY, body TEXT NOT NULL);"


def _positive_int(params: dict, field: str) -> int:
    value = params.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise validation_exception(f"The value {value!r} for parameter {field} must be an integer >= 1")
    return value


def check_alarm(params: dict) -> None:
    for field in ("AlarmName", "MetricName", "Namespace"):
        if not params.get(field):
            raise validation_exception(f"The parameter {field} is required (got {params.get(field)!r})")
    if params.get("Metrics"):
        raise validation_exception("Metric math alarms (the Metrics parameter) are not emulated")
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if (statistic is None) == (extended is None):
        raise validation_exception("Exactly one of Statistic and ExtendedStatistic must be specified")
    if statistic is not None and is_percentile(check_statistic(statistic, "Statistic")):
        raise validation_exception(f"Statistic {statistic!r} is a percentile: pass it as ExtendedStatistic")
    if extended is not None and not is_percentile(check_statistic(extended, "ExtendedStatistic")):
        raise validation_exception(f"ExtendedStatistic {extended!r} must be a percentile such as p99")
    period = _positive_int(params, "Period")
    if period not in (10, 20, 30) and period % 60:
        raise validation_exception(
            f"The value {period} for parameter Period is invalid: use 10, 20, 30 or a multiple of 60"
        )
    evaluation_periods = _positive_int(params, "EvaluationPeriods")
    to_alarm = params.get("DatapointsToAlarm", evaluation_periods)
    if isinstance(to_alarm, bool) or not isinstance(to_alarm, int) or not 1 <= to_alarm <= evaluation_periods:
        raise validation_exception(
            f"DatapointsToAlarm ({to_alarm!r}) must be between 1 and EvaluationPeriods ({evaluation_periods})"
        )
    threshold = params.get("Threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise validation_exception(f"The value {threshold!r} for parameter Threshold must be a number")
    if params.get("ComparisonOperator") not in COMPARISONS:
        raise validation_exception(
            f"The value {params.get('ComparisonOperator')!r} for parameter ComparisonOperator is invalid: "
            f"use one of {', '.join(COMPARISONS)}"
        )
    if params.get("TreatMissingData", "missing") not in TREAT_MISSING:
        raise validation_exception(
            f"The value {params.get('TreatMissingData')!r} for parameter TreatMissingData is invalid: "
            f"use one of {', '.join(TREAT_MISSING)}"
        )


class Alarms:
    def __init__(self, db: Database, metrics: MetricStore, region: str) -> None:
        self._db = db
        self._metrics = metrics
        self._region = region
        self._lock = threading.Lock()
        db.create_tables(_SCHEMA)
        self._alarms: dict[str, dict] = {
            row["name"]: json.loads(row["body"]) for row in db.query("SELECT name, body FROM cw_alarms")
        }
        self._next_evaluation: dict[str, float] = {}

    def _save(self, alarm: dict) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cw_alarms VALUES (?, ?)", (alarm["AlarmName"], json.dumps(alarm))
            )

    def put(self, params: dict) -> None:
        check_alarm(params)
        name = params["AlarmName"]
        now = time.time()
        with self._lock:
            previous = self._alarms.get(name)
            alarm = {key: copy.deepcopy(value) for key, value in params.items() if key != "Tags"}
            alarm.setdefault("DatapointsToAlarm", alarm["EvaluationPeriods"])
            alarm.setdefault("TreatMissingData", "missing")
            alarm.setdefault("ActionsEnabled", True)
            alarm.setdefault("Dimensions", [])
            for actions in ("OKActions", "AlarmActions", "InsufficientDataActions"):
                alarm.setdefault(actions, [])
            alarm["AlarmArn"] = f"arn:aws:cloudwatch:{self._region}:{ACCOUNT}:alarm:{name}"
            alarm["AlarmConfigurationUpdatedTimestamp"] = now
            state = previous or {
                "StateValue": "INSUFFICIENT_DATA",
                "StateReason": "Unchecked: Initial alarm creation",
                "StateUpdatedTimestamp": now,
                "StateTransitionedTimestamp": now,
            }
            for key in ("StateValue", "StateReason", "StateUpdatedTimestamp", "StateTransitionedTimestamp"):
                alarm[key] = state[key]
            self._alarms[name] = alarm
            self._next_evaluation[name] = now  # evaluate the new definition right away
            self._save(alarm)

    def describe(self, names: list[str] | None, prefix: str | None, state: str | None) -> list[dict]:
        if state is not None and state not in STATES:
            raise validation_exception(
                f"The value {state!r} for parameter StateValue is invalid: use {STATES}"
            )
        with self._lock:
            alarms = [copy.deepcopy(a) for name, a in sorted(self._alarms.items())]
        return [
            a
            for a in alarms
            if (not names or a["AlarmName"] in names)
            and (not prefix or a["AlarmName"].startswith(prefix))
            and (state is None or a["StateValue"] == state)
        ]

    def state_of(self, name: str) -> str | None:
        alarm = self._alarms.get(name)
        return alarm["StateValue"] if alarm else None

    def delete(self, names: list[str]) -> None:
        with self._lock:
            missing = [name for name in names if name not in self._alarms]
            if missing:
                raise AwsError("ResourceNotFound", f"Alarm(s) not found: {', '.join(missing)}", 404)
            with self._db.transaction() as conn:
                for name in names:
                    del self._alarms[name]
                    self._next_evaluation.pop(name, None)
                    conn.execute("DELETE FROM cw_alarms WHERE name=?", (name,))

    def set_state(self, name: str, state: str, reason: str, reason_data: str | None) -> None:
        if state not in STATES:
            raise validation_exception(
                f"The value {state!r} for parameter StateValue is invalid: use {STATES}"
            )
        with self._lock:
            alarm = self._alarms.get(name)
            if alarm is None:
                raise AwsError("ResourceNotFound", f"Alarm {name} not found", 404)
            self._transition(alarm, state, reason, reason_data)

    def _transition(self, alarm: dict, state: str, reason: str, reason_data: str | None = None) -> None:
        now = time.time()
        if alarm["StateValue"] != state:
            alarm["StateTransitionedTimestamp"] = now
        alarm.update(StateValue=state, StateReason=reason, StateUpdatedTimestamp=now)
        if reason_data is not None:
            alarm["StateReasonData"] = reason_data
        self._save(alarm)

    def evaluate_due(self) -> None:
        """Evaluate every alarm whose (time-scaled) period has elapsed since its last evaluation."""
        now = time.time()
        with self._lock:
            due = [a for name, a in self._alarms.items() if self._next_evaluation.get(name, 0) <= now]
        for alarm in due:
            window = max(MIN_EVALUATION_S, scaled(alarm["Period"]))
            state, reason = self._evaluate(alarm, now - METRIC_LAG_S, window)
            with self._lock:
                if self._alarms.get(alarm["AlarmName"]) is not alarm:
                    continue  # redefined or deleted meanwhile
                self._next_evaluation[alarm["AlarmName"]] = now + window
                if state is not None and (state != alarm["StateValue"] or reason != alarm["StateReason"]):
                    self._transition(alarm, state, reason)

    def _evaluate(self, alarm: dict, end: float, window: float) -> tuple[str | None, str]:
        periods = alarm["EvaluationPeriods"]
        statistic = alarm.get("Statistic") or alarm["ExtendedStatistic"]
        start = end - periods * window
        buckets = self._metrics.buckets(
            alarm["Namespace"],
            alarm["MetricName"],
            dimensions_key(alarm["Dimensions"]),
            start,
            end,
            window,
            alarm.get("Unit"),
        )
        values = [
            buckets[b][0].statistic(statistic) if b in buckets else None
            for b in (start + i * window for i in range(periods))
        ]
        compare = COMPARISONS[alarm["ComparisonOperator"]]
        threshold, missing = alarm["Threshold"], alarm["TreatMissingData"]
        breaches = evaluated = 0
        for value in values:
            if value is None:
                if missing in ("ignore", "missing"):
                    continue
                breached = missing == "breaching"
            else:
                breached = compare(value, threshold)
            evaluated += 1
            breaches += breached
        seen = [v for v in values if v is not None]
        if breaches >= alarm["DatapointsToAlarm"]:
            return "ALARM", (
                f"Threshold Crossed: {breaches} out of the last {periods} datapoints {seen} "
                f"crossed the threshold ({threshold})."
            )
        if evaluated == 0:
            if missing == "ignore":
                return None, alarm["StateReason"]
            return "INSUFFICIENT_DATA", f"Insufficient Data: no datapoints in the last {periods} period(s)."
        return "OK", (
            f"Threshold Crossed: {evaluated - breaches} out of the last {periods} datapoints {seen} "
            f"did not cross the threshold ({threshold})."
        )
