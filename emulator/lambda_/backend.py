"""Lambda functions, no HTTP: configurations in SQLite, code on disk, invocations on warm worker pools."""

from __future__ import annotations

import binascii
import copy
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from emulator.lambda_.code import CodeStore
from emulator.lambda_.errors import conflict, invalid_parameter, not_found, too_large
from emulator.lambda_.metrics import FunctionMetrics
from emulator.lambda_.runtime_api import Outcome
from emulator.lambda_.validation import check_configuration, check_name
from emulator.lambda_.workers import FunctionPool, FunctionSpec, Report
from emulator.protocol.errors import AwsError
from emulator.state import Database
from emulator.stored_rows import decoded_rows

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
LATEST = "$LATEST"
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024
DEFAULT_CONCURRENCY = 10  # workers per function; callers beyond it wait
_SCHEMA = "CREATE TABLE IF NOT EXISTS lambda_functions (name TEXT PRIMARY KEY, body TEXT NOT NULL);"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class LambdaBackend:
    def __init__(
        self,
        db: Database,
        root: Path,
        emulator_port: int,
        metrics: FunctionMetrics,
        region: str = "us-east-1",
    ) -> None:
        self._db = db
        self.metrics = metrics
        self.region = region
        self._port = emulator_port
        self._code = CodeStore(root / "code")
        self._log_root = root / "logs"
        self._lock = threading.RLock()
        db.create_tables(_SCHEMA)
        self._functions: dict[str, dict] = decoded_rows(
            db.query("SELECT name, body FROM lambda_functions"),
            "name",
            lambda row: _function_record(json.loads(row["body"])),
            "function",
        )
        self._pools: dict[str, FunctionPool] = {}
        self._async = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda-event")

    # ---- names -----------------------------------------------------------------------------------------

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"

    def resolve(self, name_or_arn: str, qualifier: str | None = None) -> str:
        """The function name for a name, full ARN or partial ARN; only $LATEST exists."""
        name, _, arn_qualifier = name_or_arn.partition(":function:")[2].partition(":")
        if not name:
            name = name_or_arn
        qualifier = qualifier or arn_qualifier or None
        with self._lock:
            if name not in self._functions or qualifier not in (None, LATEST):
                target = self.function_arn(name) + (f":{qualifier}" if qualifier else "")
                raise not_found(f"Function not found: {target}")
        return name

    def log_dir(self, name: str) -> Path:
        return self._log_root / name

    # ---- records ---------------------------------------------------------------------------------------

    def _save(self, record: dict) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO lambda_functions VALUES (?, ?)",
                (record["FunctionName"], json.dumps(record)),
            )

    def _replace_pool(self, name: str) -> None:
        """New code or configuration: new invocations get fresh workers; old ones finish and stop."""
        pool = self._pools.pop(name, None)
        if pool is not None:
            pool.retire()

    def create_function(self, params: dict) -> dict:
        name = check_name(params.get("FunctionName"))
        if params.get("PackageType", "Zip") != "Zip":
            raise invalid_parameter(f"PackageType {params['PackageType']!r} is not emulated; use Zip.")
        zip_file = (params.get("Code") or {}).get("ZipFile")
        if not zip_file:
            raise invalid_parameter(
                "Code.ZipFile is required (S3 and image code locations are not emulated)."
            )
        configuration = check_configuration(params, {})
        with self._lock:
            if name in self._functions:
                raise conflict(f"Function already exist: {name}")
        code = self._code.save(_zip_bytes(zip_file, "Code.ZipFile"))
        record = {
            "FunctionName": name,
            "FunctionArn": self.function_arn(name),
            **configuration,
            "CodeSha256": code.sha256,
            "CodeSize": code.size,
            "Version": LATEST,
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
            "EphemeralStorage": {"Size": 512},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "LastModified": _now(),
            "RevisionId": str(uuid.uuid4()),
        }
        with self._lock:
            if name in self._functions:
                raise conflict(f"Function already exist: {name}")
            self._functions[name] = record
            self._save(record)
        return copy.deepcopy(record)

    def get_configuration(self, name: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._functions[self.resolve(name)])

    def update_code(self, name: str, params: dict) -> dict:
        name = self.resolve(name)
        zip_file = params.get("ZipFile")
        if not zip_file:
            raise invalid_parameter("ZipFile is required (S3 and image code locations are not emulated).")
        code = self._code.save(_zip_bytes(zip_file, "ZipFile"))
        return self._update(name, {"CodeSha256": code.sha256, "CodeSize": code.size})

    def update_configuration(self, name: str, params: dict) -> dict:
        name = self.resolve(name)
        with self._lock:
            current = self._functions[name]
        return self._update(name, check_configuration(params, current))

    def _update(self, name: str, changes: dict) -> dict:
        with self._lock:
            record = self._functions[self.resolve(name)]
            record.update(changes, LastModified=_now(), RevisionId=str(uuid.uuid4()))
            self._save(record)
            self._replace_pool(name)
            return copy.deepcopy(record)

    def delete_function(self, name: str) -> None:
        with self._lock:
            name = self.resolve(name)
            del self._functions[name]
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM lambda_functions WHERE name=?", (name,))
            self._replace_pool(name)
        self.metrics.forget(name)

    def list_functions(self, marker: str | None, max_items: int | None) -> dict:
        with self._lock:
            names = sorted(self._functions)
            start = int(marker or 0)
            limit = max_items or 50
            page = {"Functions": [copy.deepcopy(self._functions[n]) for n in names[start : start + limit]]}
        if start + limit < len(names):
            page["NextMarker"] = str(start + limit)
        return page

    def status(self, name: str) -> dict:
        """Debug view: where the code and logs are, how many workers are warm, EMF lines seen in logs."""
        with self._lock:
            record = self._functions[self.resolve(name)]
            pool = self._pools.get(name)
            code = self._code.version(record["CodeSha256"], record["CodeSize"])
        return {
            "FunctionName": name,
            "CodeDirectory": str(code.directory),
            "CodeArchive": str(code.archive),
            "LogDirectory": str(self.log_dir(name)),
            "Workers": pool.status() if pool else {"workers": 0, "idle": 0},
            "Logs": self.metrics.emf_stats(name),
        }

    # ---- invocations -----------------------------------------------------------------------------------

    def _pool(self, name: str) -> FunctionPool:
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                record = self._functions.get(name)
                if record is None:  # deleted since the caller resolved it
                    raise not_found(f"Function not found: {self.function_arn(name)}")
                spec = FunctionSpec(
                    name=name,
                    arn=record["FunctionArn"],
                    handler=record["Handler"],
                    runtime=record["Runtime"],
                    code_dir=self._code.version(record["CodeSha256"], record["CodeSize"]).directory,
                    timeout_s=record["Timeout"],
                    memory_mb=record["MemorySize"],
                    variables=record["Environment"]["Variables"],
                    log_dir=self.log_dir(name),
                    region=self.region,
                    emulator_port=self._port,
                    concurrency=DEFAULT_CONCURRENCY,
                    log_watch=self.metrics,
                )
                pool = self._pools[name] = FunctionPool(spec)
            return pool

    def invoke(
        self, name: str, payload: bytes, want_log: bool = False, qualifier: str | None = None
    ) -> Report:
        """Run one invocation synchronously (blocks a thread for up to the function's timeout)."""
        name = self.resolve(name, qualifier)
        payload = _checked_payload(payload, MAX_SYNC_PAYLOAD)
        report = self._run(name, str(uuid.uuid4()), payload, want_log)
        if len(report.outcome.payload) > MAX_SYNC_PAYLOAD and report.outcome.error_type is None:
            size = len(report.outcome.payload)
            message = (
                f"Response payload size ({size} bytes) exceeded maximum allowed payload size (6291556 bytes)."
            )
            body = json.dumps({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message})
            report = Report(
                report.request_id,
                Outcome(body.encode(), "Function.ResponseSizeTooLarge"),
                report.log_tail,
                report.duration_ms,
            )
        self.metrics.invoked(name, report.duration_ms, report.outcome.error_type is not None)
        return report

    def _run(self, name: str, request_id: str, payload: bytes, want_log: bool = False) -> Report:
        pool = self._pool(name)
        with self.metrics.running(name, pool.spec.concurrency):
            return pool.invoke(request_id, payload, want_log)

    def invoke_async(self, name: str, payload: bytes, qualifier: str | None = None) -> str:
        """InvocationType=Event: queue it and return the request id (no retries on failure)."""
        name = self.resolve(name, qualifier)
        payload = _checked_payload(payload, MAX_ASYNC_PAYLOAD)
        request_id = str(uuid.uuid4())

        def run() -> None:
            report = self._run(name, request_id, payload)
            outcome = report.outcome
            self.metrics.invoked(name, report.duration_ms, outcome.error_type is not None)
            if outcome.error_type:
                log.warning("async invocation %s of %s failed: %s", request_id, name, outcome.payload[:500])

        self._async.submit(run)
        return request_id

    def shutdown(self) -> None:
        self._async.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.retire()


def _zip_bytes(zip_file: str, field: str) -> bytes:
    try:
        return binascii.a2b_base64(zip_file, strict_mode=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter(f"{field} is not valid base64-encoded zip data.") from None


def _function_record(record: dict) -> dict:
    """A stored function's record, if it has what invoking it needs."""
    for field in ("FunctionName", "FunctionArn", "Handler", "Runtime", "CodeSha256", "CodeSize"):
        if field not in record:
            raise KeyError(f"the stored record has no {field}")
    return record


def _checked_payload(payload: bytes, limit: int) -> bytes:
    if len(payload) > limit:
        raise too_large(
            f"Request must be smaller than {limit} bytes for the Invoke operation (got {len(payload)})."
        )
    if not payload:
        return b"{}"
    try:
        json.loads(payload)
    except ValueError:
        raise AwsError(
            "InvalidRequestContentException",
            "Could not parse request body into json: payload is not JSON",
            400,
        ) from None
    return payload
