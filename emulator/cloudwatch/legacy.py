"""Alarms written by the release before the typed CloudWatch backend, read into today's records.

That release stored each alarm as its PutMetricAlarm request (with CloudWatch's defaults filled in)
plus its ARN and state, in the table `cw_alarms`; the request parser reads that shape back.
"""

from __future__ import annotations

import json
import sqlite3

from emulator.cloudwatch import alarms
from emulator.cloudwatch.alarms import Alarm
from emulator.cloudwatch.requests import parse_alarm
from emulator.legacy_tables import Replacement, migrate
from emulator.state import Database
from emulator.typed_json import to_json


def _alarm(row: sqlite3.Row) -> tuple:
    body = json.loads(row["body"])
    alarm = Alarm(
        parse_alarm(body),
        body["AlarmArn"],
        body["AlarmConfigurationUpdatedTimestamp"],
        body["StateValue"],
        body["StateReason"],
        body["StateUpdatedTimestamp"],
        body["StateTransitionedTimestamp"],
        body.get("StateReasonData"),
    )
    return row["name"], to_json(alarm)


def migrate_alarms(db: Database) -> None:
    migrate(db, Replacement("cw_alarms", alarms.TABLE, alarms.SCHEMA, _alarm))
