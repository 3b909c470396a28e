"""Kinesis event-source mappings: their records (SQLite), lifecycle states, and the shard pollers they run.

State changes that start or stop pollers run in a background thread per mapping (AWS's Creating,
Enabling, Disabling, Updating, Deleting), because stopping waits for in-flight invocations.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid as uuids

from emulator.kinesis.backend import KinesisBackend
from emulator.lambda_.backend import ACCOUNT, LambdaBackend
from emulator.lambda_.errors import conflict, invalid_parameter, not_found
from emulator.lambda_.esm.checkpoints import Checkpoints
from emulator.lambda_.esm.config import check_settings, check_source, merged_update
from emulator.lambda_.esm.runner import MappingRunner, ObjectWriter, QueueSender
from emulator.lambda_.esm.shard_poller import ShardPoller
from emulator.lambda_.esm.stats import MappingStats
from emulator.protocol.errors import AwsError
from emulator.state import Database
from emulator.stored_rows import decoded_rows

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS lambda_esm (uuid TEXT PRIMARY KEY, body TEXT NOT NULL);"
_SHUTDOWN_JOIN_S = 2.0


class EventSourceMappings:
    def __init__(
        self,
        db: Database,
        functions: LambdaBackend,
        kinesis: KinesisBackend,
        sqs: QueueSender,
        s3: ObjectWriter,
    ) -> None:
        self._db = db
        self._functions = functions
        self._kinesis = kinesis
        self._checkpoints = Checkpoints(db)
        self._runner = MappingRunner(functions, kinesis, sqs, s3, self._checkpoints)
        db.create_tables(_SCHEMA)
        self._records: dict[str, dict] = decoded_rows(
            db.query("SELECT uuid, body FROM lambda_esm"),
            "uuid",
            lambda row: json.loads(row["body"]),
            "mapping",
        )
        self._pollers: dict[str, list[ShardPoller]] = {}
        self._stats: dict[str, MappingStats] = {}
        self._transitions: dict[str, threading.Lock] = {}
        self._lock = threading.RLock()

    # ---- records -------------------------------------------------------------------------------------

    def _save(self, record: dict) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO lambda_esm VALUES (?, ?)", (record["UUID"], json.dumps(record))
            )

    def _get(self, uuid: str) -> dict:
        record = self._records.get(uuid)
        if record is None:
            raise not_found(f"The resource you requested does not exist. (Service: Lambda, UUID: {uuid})")
        return record

    def _render(self, record: dict) -> dict:
        rendered = copy.deepcopy(record)
        rendered.pop("Enabled")
        if not rendered.get("FilterCriteria"):  # AWS leaves it out when there are no filters
            rendered.pop("FilterCriteria", None)
        stats = self._stats.get(record["UUID"])
        rendered["LastProcessingResult"] = stats.last_result if stats else "No records processed"
        return rendered

    def _set_state(self, uuid: str, state: str) -> None:
        with self._lock:
            record = self._records.get(uuid)
            if record is not None:
                record["State"] = state
                self._save(record)

    # ---- API -----------------------------------------------------------------------------------------

    def create(self, params: dict) -> dict:
        source = check_source(params)
        settings = check_settings(params)
        function_arn = self._functions.function_arn(self._function_name(params.get("FunctionName")))
        try:
            shards = self._kinesis.list_shards(self._runner.source_stream(source["EventSourceArn"]))
        except AwsError:
            raise invalid_parameter(
                f"Stream or stream consumer not found: {source['EventSourceArn']}"
            ) from None
        uuid = str(uuids.uuid4())
        with self._lock:
            for other in self._records.values():
                if (
                    other["EventSourceArn"] == source["EventSourceArn"]
                    and other["FunctionArn"] == function_arn
                ):
                    raise conflict(
                        f'An event source mapping with Kinesis arn "{source["EventSourceArn"]}" and function '
                        f'"{function_arn}" already exists. Please update or delete the existing mapping '
                        f"with UUID {other['UUID']}"
                    )
            for shard in shards:  # fix LATEST/AT_TIMESTAMP now: records put after this call are delivered
                self._checkpoints.put(
                    uuid, shard.shard_id, self._runner.initial_position(source, shard.shard_id)
                )
            record = {
                "UUID": uuid,
                "EventSourceMappingArn": (
                    f"arn:aws:lambda:{self._functions.region}:{ACCOUNT}:event-source-mapping:{uuid}"
                ),
                **source,
                "FunctionArn": function_arn,
                **settings,
                "State": "Creating",
                "StateTransitionReason": "USER_INITIATED",
                "LastModified": time.time(),
            }
            self._records[uuid] = record
            self._stats[uuid] = MappingStats()
            self._save(record)
            rendered = self._render(record)
        self._transition(uuid, "Enabled" if settings["Enabled"] else "Disabled")
        return rendered

    def get(self, uuid: str) -> dict:
        with self._lock:
            return self._render(self._get(uuid))

    def list(
        self, source_arn: str | None, function: str | None, marker: str | None, max_items: int | None
    ) -> dict:
        function_arn = self._functions.function_arn(self._function_name(function)) if function else None
        with self._lock:
            rows = [
                self._render(r)
                for r in self._records.values()
                if (source_arn is None or r["EventSourceArn"] == source_arn)
                and (function_arn is None or r["FunctionArn"] == function_arn)
            ]
        rows.sort(key=lambda r: r["LastModified"])
        start, limit = int(marker or 0), max_items or 100
        page = {"EventSourceMappings": rows[start : start + limit]}
        if start + limit < len(rows):
            page["NextMarker"] = str(start + limit)
        return page

    def update(self, uuid: str, params: dict) -> dict:
        function_arn = None
        if params.get("FunctionName"):
            function_arn = self._functions.function_arn(self._function_name(params["FunctionName"]))
        with self._lock:
            record = self._get(uuid)
            if record["State"] not in ("Enabled", "Disabled"):
                raise AwsError(
                    "ResourceInUseException",
                    f"Cannot update the event source mapping {uuid} because it is in use "
                    f"(state {record['State']}).",
                )
            was_enabled = record["Enabled"]
            record.update(merged_update(record, params), LastModified=time.time())
            if function_arn:
                record["FunctionArn"] = function_arn
            enabled = record["Enabled"]
            if enabled == was_enabled:
                record["State"] = "Updating"
            else:
                record["State"] = "Enabling" if enabled else "Disabling"
            self._save(record)
            rendered = self._render(record)
        self._transition(uuid, "Enabled" if enabled else "Disabled")
        return rendered

    def delete(self, uuid: str) -> dict:
        with self._lock:
            record = self._get(uuid)
            record["State"] = "Deleting"
            self._save(record)
            rendered = self._render(record)
        self._transition(uuid, None)
        return rendered

    def stats(self, uuid: str) -> dict:
        with self._lock:
            record = self._get(uuid)
            stats = self._stats.setdefault(uuid, MappingStats())
        return {
            "UUID": uuid,
            "State": record["State"],
            "FunctionArn": record["FunctionArn"],
            "EventSourceArn": record["EventSourceArn"],
            "checkpoints": self._checkpoints.all(uuid),
            **stats.snapshot(),
        }

    # ---- lifecycle -----------------------------------------------------------------------------------

    def _function_name(self, name: object) -> str:
        if not isinstance(name, str) or not name:
            raise invalid_parameter(f"FunctionName is required, got {name!r}.")
        return self._functions.resolve(name)

    def _transition(self, uuid: str, final_state: str | None) -> None:
        """In the background: stop the mapping's pollers, then start new ones if enabled (None: delete).

        Transitions of one mapping run one at a time, each stopping whatever pollers are current when
        it runs, so a quick Disable/Enable can never leave two sets polling the same shards.
        """
        with self._lock:
            gate = self._transitions.setdefault(uuid, threading.Lock())
            for poller in self._pollers.get(uuid, []):
                poller.stop()  # stop taking new batches right away

        def run() -> None:
            with gate:
                with self._lock:
                    pollers = self._pollers.pop(uuid, [])
                for poller in pollers:
                    poller.stop()
                for poller in pollers:
                    poller.join()
                if final_state is None:
                    self._forget(uuid)
                    return
                if final_state == "Enabled":
                    try:
                        self._start(uuid)
                    except AwsError as err:
                        log.warning("event-source mapping %s cannot start: %s", uuid, err.message)
                self._set_state(uuid, final_state)

        threading.Thread(target=run, daemon=True, name=f"esm-transition-{uuid[:8]}").start()

    def _forget(self, uuid: str) -> None:
        with self._lock:
            self._records.pop(uuid, None)
            self._stats.pop(uuid, None)
            self._transitions.pop(uuid, None)
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM lambda_esm WHERE uuid=?", (uuid,))
        self._checkpoints.delete(uuid)

    def _start(self, uuid: str) -> None:
        with self._lock:
            record = copy.deepcopy(self._get(uuid))
            stats = self._stats.setdefault(uuid, MappingStats())
        pollers = self._runner.pollers(record, stats)
        with self._lock:
            if uuid not in self._records:
                return
            self._pollers[uuid] = pollers
        for poller in pollers:
            poller.start()

    def restore(self) -> None:
        """After a restart: resume enabled mappings from their checkpoints, finish interrupted changes."""
        with self._lock:
            records = list(self._records.values())
        for record in records:
            if record["State"] == "Deleting":
                self._transition(record["UUID"], None)
            else:
                self._transition(record["UUID"], "Enabled" if record["Enabled"] else "Disabled")

    def shutdown(self) -> None:
        with self._lock:
            pollers = [p for group in self._pollers.values() for p in group]
            self._pollers = {}
        for poller in pollers:
            poller.stop()
        deadline = time.monotonic() + _SHUTDOWN_JOIN_S
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
