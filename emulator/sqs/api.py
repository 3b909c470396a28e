"""SQS over AWS JSON 1.0 (X-Amz-Target `AmazonSQS.<Operation>`), query-compatible errors.

boto3 posts every call to the endpoint URL with `QueueUrl` in the body. Queue URLs are built from the
Host the client used, so they stay valid for whatever port the emulator listens on.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.protocol.body import BodyLimit
from emulator.protocol.errors import AwsError
from emulator.protocol.json_rpc import JsonDispatcher
from emulator.protocol.pagination import paginate
from emulator.protocol.shapes import RequestShapes
from emulator.sqs import limits
from emulator.sqs.backend import ACCOUNT, MAX_RECEIVE, ReceivedMessage, SqsBackend
from emulator.sqs.messages import (
    MAX_MESSAGE_BYTES,
    invalid_parameter,
    md5_of_attributes,
    md5_of_body,
    message_size,
)
from emulator.sqs.metrics import QueueMetrics

Params = dict[str, Any]

MAX_WAIT_S = 20
_POLL_S = 0.05
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}\Z")
# botocore maps SQS errors to exception classes through the legacy (query protocol) code in this header
_QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
}
_base_url: ContextVar[str] = ContextVar("sqs_base_url")


class SqsDispatcher(JsonDispatcher):
    async def __call__(self, request: Request) -> Response:
        token = _base_url.set(f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}")
        try:
            return await super().__call__(request)
        finally:
            _base_url.reset(token)

    def body_limit(self, operation: str) -> BodyLimit:
        return limits.body_limit(operation)

    def error_response(self, err: AwsError) -> Response:
        response = super().error_response(err)
        response.headers["x-amzn-query-error"] = f"{_QUERY_CODES.get(err.code, err.code)};Sender"
        return response


def queue_url(name: str) -> str:
    return f"{_base_url.get()}/{ACCOUNT}/{name}"


def _queue(params: Params) -> str:
    url = params.get("QueueUrl")
    if not url:
        raise AwsError("MissingParameter", "The request must contain the parameter QueueUrl.")
    return url


def _message(message: ReceivedMessage, system_names: set[str], attribute_names: list[str]) -> Params:
    result: Params = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "Body": message.body,
        "MD5OfBody": md5_of_body(message.body),
    }
    system = message.system_attributes()
    wanted = system if "All" in system_names else {k: v for k, v in system.items() if k in system_names}
    if wanted:
        result["Attributes"] = wanted
    attributes = {
        name: value for name, value in message.attributes.items() if _attribute_wanted(name, attribute_names)
    }
    if attributes:
        result["MessageAttributes"] = attributes
        result["MD5OfMessageAttributes"] = md5_of_attributes(attributes)
    return result


def _attribute_wanted(name: str, patterns: list[str]) -> bool:
    return any(
        p in ("All", ".*") or p == name or (p.endswith(".*") and name.startswith(p[:-2])) for p in patterns
    )


def _check_batch(entries: list[Params]) -> None:
    if not entries:
        raise AwsError("EmptyBatchRequest", "There should be at least one entry in the request.")
    if len(entries) > MAX_RECEIVE:
        raise AwsError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
        )
    ids = [entry.get("Id", "") for entry in entries]
    for entry_id in ids:
        if not _BATCH_ID.match(entry_id):
            raise AwsError(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores: "
                f"{entry_id!r}",
            )
    if len(set(ids)) != len(ids):
        raise AwsError(
            "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
        )


def _per_entry(entries: list[Params], action: Callable[[Params], Params]) -> Params:
    """Run `action` per batch entry: an entry's own error fails that entry only, like SQS batches."""
    successful, failed = [], []
    for entry in entries:
        try:
            successful.append({"Id": entry["Id"], **action(entry)})
        except AwsError as err:
            if err.code == "QueueDoesNotExist":
                raise
            failed.append({"Id": entry["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
    return {"Successful": successful, "Failed": failed}


def _size(entry: Params) -> int:
    """A sent message's size as SQS counts it (body and attributes)."""
    return message_size(str(entry.get("MessageBody", "")), entry.get("MessageAttributes") or {})


def build_sqs_api(backend: SqsBackend, publisher: MetricPublisher) -> SqsDispatcher:
    api = SqsDispatcher("AmazonSQS", "1.0", RequestShapes("sqs", limits.SQS_ERRORS))
    metrics = QueueMetrics(publisher)

    @api.operation("CreateQueue")
    def create_queue(params: Params) -> Params:
        return {
            "QueueUrl": queue_url(
                backend.create_queue(params.get("QueueName", ""), params.get("Attributes") or {})
            )
        }

    @api.operation("GetQueueUrl")
    def get_queue_url(params: Params) -> Params:
        name = params.get("QueueName", "")
        backend.queue_arn(name)  # raises QueueDoesNotExist
        return {"QueueUrl": queue_url(name)}

    @api.operation("ListQueues")
    def list_queues(params: Params) -> Params:
        names = backend.list_queues(params.get("QueueNamePrefix", ""))
        limit = params.get("MaxResults", 1000)
        if not 1 <= limit <= 1000:
            raise invalid_parameter(
                f"Value {limit} for parameter MaxResults is invalid. Reason: Must be between 1 and 1000."
            )
        page = paginate(names, "QueueUrls", params.get("NextToken"), limit, name_of=str)
        return {**page, "QueueUrls": [queue_url(name) for name in page["QueueUrls"]]}

    @api.operation("DeleteQueue")
    def delete_queue(params: Params) -> Params:
        backend.delete_queue(_queue(params))
        return {}

    @api.operation("PurgeQueue")
    def purge_queue(params: Params) -> Params:
        backend.purge_queue(_queue(params))
        return {}

    @api.operation("GetQueueAttributes")
    def get_queue_attributes(params: Params) -> Params:
        return {
            "Attributes": backend.get_queue_attributes(
                _queue(params), params.get("AttributeNames") or ["All"]
            )
        }

    @api.operation("SetQueueAttributes")
    def set_queue_attributes(params: Params) -> Params:
        backend.set_queue_attributes(_queue(params), params.get("Attributes") or {})
        return {}

    @api.operation("SendMessage")
    def send_message(params: Params) -> Params:
        queue = _queue(params)
        result = backend.send_message(
            queue, params.get("MessageBody"), params.get("MessageAttributes"), params.get("DelaySeconds")
        )
        metrics.sent(queue, [_size(params)])
        return result

    @api.operation("SendMessageBatch")
    def send_message_batch(params: Params) -> Params:
        queue, entries = _queue(params), params.get("Entries") or []
        _check_batch(entries)
        total = sum(
            message_size(str(e.get("MessageBody", "")), e.get("MessageAttributes") or {}) for e in entries
        )
        if total > MAX_MESSAGE_BYTES:
            raise AwsError(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. "
                f"You have sent {total} bytes.",
            )
        result = _per_entry(
            entries,
            lambda e: backend.send_message(
                queue, e.get("MessageBody"), e.get("MessageAttributes"), e.get("DelaySeconds")
            ),
        )
        sent = {entry["Id"] for entry in result["Successful"]}
        metrics.sent(queue, [_size(e) for e in entries if e.get("Id") in sent])
        return result

    @api.operation("ReceiveMessage")
    async def receive_message(params: Params) -> Params:
        queue = _queue(params)
        wait = params.get("WaitTimeSeconds")
        if wait is None:
            wait = int(
                (
                    await run_in_threadpool(
                        backend.get_queue_attributes, queue, ["ReceiveMessageWaitTimeSeconds"]
                    )
                )["ReceiveMessageWaitTimeSeconds"]
            )
        if not 0 <= wait <= MAX_WAIT_S:
            raise invalid_parameter(
                f"Value {wait} for parameter WaitTimeSeconds is invalid. "
                f"Reason: Must be >= 0 and <= {MAX_WAIT_S}."
            )
        # long polling waits on the event loop, not in a worker thread
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            messages = await run_in_threadpool(
                backend.receive_messages,
                queue,
                params.get("MaxNumberOfMessages", 1),
                params.get("VisibilityTimeout"),
            )
            if messages or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(_POLL_S)
        metrics.received(queue, len(messages))
        system_names = set(params.get("MessageSystemAttributeNames") or []) | set(
            params.get("AttributeNames") or []
        )
        attribute_names = params.get("MessageAttributeNames") or []
        return {"Messages": [_message(m, system_names, attribute_names) for m in messages]}

    @api.operation("DeleteMessage")
    def delete_message(params: Params) -> Params:
        backend.delete_message(_queue(params), params.get("ReceiptHandle", ""))
        metrics.deleted(_queue(params), 1)
        return {}

    @api.operation("DeleteMessageBatch")
    def delete_message_batch(params: Params) -> Params:
        queue, entries = _queue(params), params.get("Entries") or []
        _check_batch(entries)
        result = _per_entry(
            entries, lambda e: backend.delete_message(queue, e.get("ReceiptHandle", "")) or {}
        )
        metrics.deleted(queue, len(result["Successful"]))
        return result

    @api.operation("ChangeMessageVisibility")
    def change_message_visibility(params: Params) -> Params:
        backend.change_visibility(
            _queue(params), params.get("ReceiptHandle", ""), params.get("VisibilityTimeout", 0)
        )
        return {}

    return api
