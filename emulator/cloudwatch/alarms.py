"""Metric alarms: definitions, state, and periodic evaluation.

Each alarm is evaluated once per `Period` × RTINFER_TIME_SCALE (at least every second) over its last
EvaluationPeriods windows, ending METRIC_LAG_S in the past because metrics published by the emulator
land up to a second after the fact. A state set with SetAlarmState holds until the next evaluation,
as on AWS.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from emulator.cloudwatch.metrics import MetricId, MetricStore
from emulator.protocol.errors import AwsError
from emulator.state import Database
from emulator.stored_rows import decoded_rows
from emulator.timescale import scaled
from emulator.typed_json import from_json, to_json

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
TABLE = "cw_metric_alarms"
SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, body TEXT NOT NULL);"


@dataclass(frozen=True)
class AlarmDefinition:
    name: str
    metric: MetricId
    statistic: str  # a standard statistic or a percentile (pNN)
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str  # a key of COMPARISONS
    treat_missing: str  # one of TREAT_MISSING
    unit: str | None = None
    description: str | None = None
    actions_enabled: bool = True
    ok_actions: tuple[str, ...] = ()
    alarm_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()


@dataclass
class Alarm:
    definition: AlarmDefinition
    arn: str
    configuration_updated: float
    state: str
    state_reason: str
    state_updated: float
    state_transitioned: float
    state_reason_data: str | None = None


class Alarms:
    def __init__(self, db: Database, metrics: MetricStore, region: str) -> None:
        self._db = db
        self._metrics = metrics
        self._region = region
        self._lock = threading.Lock()
        db.create_tables(SCHEMA)
        self._alarms: dict[str, Alarm] = decoded_rows(
            db.query(f"SELECT name, body FROM {TABLE}"),
            "name",
            lambda row: from_json(Alarm, row["body"]),
            "alarm",
        )
        self._next_evaluation: dict[str, float] = {}

    def _save(self, alarm: Alarm) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?)",
                (alarm.definition.name, to_json(alarm)),
            )

    def put(self, definition: AlarmDefinition) -> None:
        """Create or redefine an alarm; a redefined alarm keeps its state until the next evaluation."""
        name = definition.name
        now = time.time()
        with self._lock:
            previous = self._alarms.get(name)
            arn = f"arn:aws:cloudwatch:{self._region}:{ACCOUNT}:alarm:{name}"
            if previous:
                alarm = dataclasses.replace(previous, definition=definition, configuration_updated=now)
            else:
                alarm = Alarm(
                    definition, arn, now, "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation", now, now
                )
            self._alarms[name] = alarm
            self._next_evaluation[name] = now  # evaluate the new definition right away
            self._save(alarm)

    def describe(self, names: list[str], prefix: str | None, state: str | None) -> list[Alarm]:
        """Alarms by name order; an empty `names` means every alarm."""
        with self._lock:
            alarms = [dataclasses.replace(a) for _, a in sorted(self._alarms.items())]
        return [
            a
            for a in alarms
            if (not names or a.definition.name in names)
            and (not prefix or a.definition.name.startswith(prefix))
            and (state is None or a.state == state)
        ]

    def state_of(self, name: str) -> str | None:
        alarm = self._alarms.get(name)
        return alarm.state if alarm else None

    def delete(self, names: list[str]) -> None:
        with self._lock:
            missing = [name for name in names if name not in self._alarms]
            if missing:
                raise AwsError("ResourceNotFound", f"Alarm(s) not found: {', '.join(missing)}", 404)
            with self._db.transaction() as conn:
                for name in names:
                    del self._alarms[name]
                    self._next_evaluation.pop(name, None)
                    conn.execute(f"DELETE FROM {TABLE} WHERE name=?", (name,))

    def set_state(self, name: str, state: str, reason: str, reason_data: str | None) -> None:
        with self._lock:
            alarm = self._alarms.get(name)
            if alarm is None:
                raise AwsError("ResourceNotFound", f"Alarm {name} not found", 404)
            self._transition(alarm, state, reason, reason_data)

    def _transition(self, alarm: Alarm, state: str, reason: str, reason_data: str | None = None) -> None:
        now = time.time()
        if alarm.state != state:
            alarm.state_transitioned = now
        alarm.state, alarm.state_reason, alarm.state_updated = state, reason, now
        if reason_data is not None:
            alarm.state_reason_data = reason_data
        self._save(alarm)

    def evaluate_due(self) -> None:
        """Evaluate every alarm whose (time-scaled) period has elapsed since its last evaluation."""
        now = time.time()
        with self._lock:
            due = [a for name, a in self._alarms.items() if self._next_evaluation.get(name, 0) <= now]
        for alarm in due:
            name = alarm.definition.name
            window = max(MIN_EVALUATION_S, scaled(alarm.definition.period))
            state, reason = self._evaluate(alarm, now - METRIC_LAG_S, window)
            with self._lock:
                if self._alarms.get(name) is not alarm:
                    continue  # redefined or deleted meanwhile
                self._next_evaluation[name] = now + window
                if state is not None and (state != alarm.state or reason != alarm.state_reason):
                    self._transition(alarm, state, reason)

    def _evaluate(self, alarm: Alarm, end: float, window: float) -> tuple[str | None, str]:
        definition = alarm.definition
        periods = definition.evaluation_periods
        start = end - periods * window
        buckets = self._metrics.buckets(definition.metric, start, end, window, definition.unit)
        values = [
            buckets[b][0].statistic(definition.statistic) if b in buckets else None
            for b in (start + i * window for i in range(periods))
        ]
        compare = COMPARISONS[definition.comparison]
        threshold, missing = definition.threshold, definition.treat_missing
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
        if breaches >= definition.datapoints_to_alarm:
            return "ALARM", (
                f"Threshold Crossed: {breaches} out of the last {periods} datapoints {seen} "
                f"crossed the threshold ({threshold})."
            )
        if evaluated == 0:
            if missing == "ignore":
                return None, alarm.state_reason
            return "INSUFFICIENT_DATA", f"Insufficient Data: no datapoints in the last {periods} period(s)."
        return "OK", (
            f"Threshold Crossed: {evaluated - breaches} out of the last {periods} datapoints {seen} "
            f"did not cross the threshold ({threshold})."
        )
