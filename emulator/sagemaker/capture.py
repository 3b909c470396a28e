"""Endpoint data capture: buffered JSONL files in SageMaker's layout, written to the emulator's S3.

`{prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/{mm-ss-mmm}-{uuid}.jsonl`, one line per sampled
invocation. The hot path only appends a tuple to a list; a background thread serialises and writes
at least once a second, and once more on shutdown.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.protocol.errors import AwsError
from emulator.s3.backend import S3Backend
from emulator.s3.metrics import BucketRequests
from emulator.sagemaker.fleet import CaptureSettings

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Exchange:
    """One request/response pair as a variant saw it."""

    request_body: bytes
    request_type: str
    response_body: bytes
    response_type: str
    inference_id: str | None
    at: datetime


def _payload(mode: str, content_type: str, body: bytes) -> dict:
    media_type = content_type.split(";")[0].strip().lower()
    encoding = {"text/csv": "CSV", "application/json": "JSON"}.get(media_type)
    if encoding:
        data = body.decode("utf-8", errors="replace")
    else:
        encoding, data = "BASE64", base64.b64encode(body).decode()
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_line(exchange: Exchange, settings: CaptureSettings) -> str:
    capture: dict = {}
    if settings.capture_input:
        capture["endpointInput"] = _payload("INPUT", exchange.request_type, exchange.request_body)
    if settings.capture_output:
        capture["endpointOutput"] = _payload("OUTPUT", exchange.response_type, exchange.response_body)
    metadata = {"eventId": str(uuid.uuid4()), "inferenceTime": exchange.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if exchange.inference_id:
        metadata["inferenceId"] = exchange.inference_id
    return json.dumps({"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"})


class CaptureWriter:
    def __init__(self, s3: S3Backend, requests: BucketRequests) -> None:
        self._s3 = s3
        self._requests = requests  # a capture file is a PUT into the customer's bucket, billed as one
        self._pending: list[tuple[str, str, CaptureSettings, Exchange]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, endpoint: str, variant: str, settings: CaptureSettings, exchange: Exchange) -> None:
        """Keep the exchange if it falls in the sampling percentage."""
        if random.random() * 100 < settings.sampling_percentage:
            with self._lock:
                self._pending.append((endpoint, variant, settings, exchange))

    def _run(self) -> None:
        while not self._stopped.wait(FLUSH_INTERVAL_S):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        files: dict[tuple[str, str], list[str]] = {}
        for endpoint, variant, settings, exchange in pending:
            folder = "/".join(
                p for p in (settings.prefix, endpoint, variant, exchange.at.strftime("%Y/%m/%d/%H")) if p
            )
            files.setdefault((settings.bucket, folder), []).append(capture_line(exchange, settings))
        now = datetime.now(UTC)
        for (bucket, folder), lines in files.items():
            key = f"{folder}/{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            body = ("\n".join(lines) + "\n").encode()
            try:
                self._s3.put_object(bucket, key, body, "application/jsonl")
                self._requests.record(bucket, "PUT", True, 200, len(body))
            except AwsError as exc:  # e.g. the destination bucket was never created: say so loudly
                log.error(
                    "data capture: lost %d records for s3://%s/%s: %s", len(lines), bucket, key, exc.message
                )

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
