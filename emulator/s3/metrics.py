"""AWS/S3 metrics as S3 publishes them.

Request metrics, per BucketName with FilterId "EntireBucket" (on AWS, a bucket metrics configuration of
that id over the whole bucket), one sample per request (Count unless said): AllRequests (any request to
the bucket), GetRequests, PutRequests, HeadRequests, DeleteRequests, PostRequests (requests for objects),
ListRequests (GET of the bucket: a listing), BytesUploaded / BytesDownloaded (Bytes: object bodies),
4xxErrors, 5xxErrors (1 or 0).
They count the requests that reach the wire protocol and the objects the emulated SageMaker writes
straight into its S3 backend (data capture), which on AWS are PUTs into the customer's bucket too.

Daily storage metrics, per BucketName: BucketSizeBytes (Bytes, StorageType StandardStorage) and
NumberOfObjects (Count, StorageType AllStorageTypes), for every bucket holding objects, once when the
emulator starts and then once per (time-scaled, see emulator.timescale) day.
"""

from __future__ import annotations

import logging
import threading

from starlette.requests import Request
from starlette.responses import Response

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.s3.backend import S3Backend
from emulator.timescale import scaled

log = logging.getLogger(__name__)

NAMESPACE = "AWS/S3"
FILTER_ID = "EntireBucket"
DAY_S = 86400.0
_KINDS = {"PUT": "PutRequests", "HEAD": "HeadRequests", "DELETE": "DeleteRequests", "POST": "PostRequests"}


def _bucket_and_key(request: Request) -> tuple[str, str]:
    bucket, _, key = request.url.path.lstrip("/").partition("/")
    return bucket, key


def request_kind(method: str, has_key: bool) -> str | None:
    if method == "GET":
        return "GetRequests" if has_key else "ListRequests"
    return _KINDS.get(method) if has_key else None


def _uploaded(request: Request) -> int:
    headers = request.headers
    text = headers.get("x-amz-decoded-content-length") or headers.get("content-length") or "0"
    return int(text) if text.isdigit() else 0


class BucketRequests:
    """The request metrics of one request to a bucket, however it arrived."""

    def __init__(self, publisher: MetricPublisher) -> None:
        self._publisher = publisher

    def record(
        self, bucket: str, method: str, has_key: bool, status: int, uploaded: int = 0, downloaded: int = 0
    ) -> None:
        dims = (("BucketName", bucket), ("FilterId", FILTER_ID))

        def add(name: str, value: float, unit: str = "Count") -> None:
            self._publisher.add(NAMESPACE, name, dims, unit, value)

        add("AllRequests", 1)
        kind = request_kind(method, has_key)
        if kind:
            add(kind, 1)
        if has_key and method in ("PUT", "POST") and status < 300:
            add("BytesUploaded", uploaded, "Bytes")
        if has_key and method == "GET" and status < 300:
            add("BytesDownloaded", downloaded, "Bytes")
        add("4xxErrors", float(400 <= status < 500))
        add("5xxErrors", float(status >= 500))


class RequestMetrics:
    """Wraps the S3 API (any object with `handles`, `operations` and an async call on a request)."""

    def __init__(self, api, requests: BucketRequests) -> None:
        self._api = api
        self._requests = requests

    def handles(self, request: Request) -> bool:
        return self._api.handles(request)

    def operations(self) -> list[dict]:
        return self._api.operations()

    async def __call__(self, request: Request) -> Response:
        response = await self._api(request)
        bucket, key = _bucket_and_key(request)
        if bucket:
            self._requests.record(
                bucket,
                request.method,
                bool(key),
                response.status_code,
                _uploaded(request),
                int(response.headers.get("content-length", "0")),
            )
        return response


class StorageMetrics:
    """Publishes the daily storage metrics from a background thread."""

    def __init__(self, backend: S3Backend, publisher: MetricPublisher) -> None:
        self._backend = backend
        self._publisher = publisher
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s3-storage-metrics", daemon=True)

    def publish(self) -> None:
        for bucket, size, count in self._backend.storage():
            self._publisher.add(
                NAMESPACE,
                "BucketSizeBytes",
                (("BucketName", bucket), ("StorageType", "StandardStorage")),
                "Bytes",
                size,
            )
            self._publisher.add(
                NAMESPACE,
                "NumberOfObjects",
                (("BucketName", bucket), ("StorageType", "AllStorageTypes")),
                "Count",
                count,
            )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.publish()
            except Exception:
                log.exception("S3 storage metrics failed")
            if self._stopped.wait(scaled(DAY_S)):
                return

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
