"""DynamoDB over AWS JSON 1.0 (X-Amz-Target `DynamoDB_20120810.<Operation>`).

This layer validates typed values, parses expressions (resolving `#name`/`:value` placeholders and
rejecting unused ones) and shapes responses; DynamoDBBackend does the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emulator.cloudwatch.publisher import MetricPublisher
from emulator.dynamodb.backend import MAX_BATCH_GET, DynamoDBBackend, Page, TransactAction
from emulator.dynamodb.capacity import Consumed, multi_response, return_mode, single_response
from emulator.dynamodb.expressions import (
    Node,
    Path,
    Placeholders,
    parse_condition,
    parse_projection,
    parse_update,
)
from emulator.dynamodb.metrics import publish_consumed, publish_latency
from emulator.dynamodb.values import Item, normalise_item
from emulator.protocol.body import BodyLimit
from emulator.protocol.errors import validation_exception
from emulator.protocol.json_rpc import MIB, JsonDispatcher, request_entity_too_large
from emulator.protocol.shapes import RequestShapes

Params = dict[str, Any]
_RETURN_VALUES = {
    "PutItem": ("NONE", "ALL_OLD"),
    "DeleteItem": ("NONE", "ALL_OLD"),
    "UpdateItem": ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"),
}


def _return_values(params: Params, operation: str) -> str:
    value = params.get("ReturnValues", "NONE")
    if value not in _RETURN_VALUES[operation]:
        raise validation_exception(
            f"ReturnValues can only be one of {', '.join(_RETURN_VALUES[operation])} for {operation}, "
            f"got {value!r}"
        )
    return value


class _Expressions:
    """The expressions of one request, parsed against its placeholders."""

    def __init__(self, params: Params) -> None:
        self.placeholders = Placeholders.from_request(params)
        self.params = params

    def condition(self, field: str = "ConditionExpression") -> Node | None:
        text = self.params.get(field)
        return parse_condition(text, self.placeholders, field) if text else None

    def projection(self) -> list[Path] | None:
        text = self.params.get("ProjectionExpression")
        return parse_projection(text, self.placeholders) if text else None

    def update(self) -> list[Node]:
        text = self.params.get("UpdateExpression")
        if not text:
            raise validation_exception("UpdateExpression is required (AttributeUpdates is not emulated)")
        return parse_update(text, self.placeholders)

    def done(self) -> None:
        self.placeholders.check_all_used()


def _attributes(item: Item | None) -> Params:
    return {"Attributes": item} if item else {}


_SELECTS = ("ALL_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")


def _select(params: Params) -> str:
    """Select, checked against the projection as DynamoDB does (ALL_PROJECTED_ATTRIBUTES needs an index)."""
    projected = bool(params.get("ProjectionExpression"))
    select = params.get("Select", "SPECIFIC_ATTRIBUTES" if projected else "ALL_ATTRIBUTES")
    if select not in _SELECTS:
        raise validation_exception(
            f"1 validation error detected: Value '{select}' at 'select' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(_SELECTS)}] (no secondary indexes are emulated)"
        )
    if projected and select != "SPECIFIC_ATTRIBUTES":
        raise validation_exception(f"Cannot specify the ProjectionExpression when choosing to get {select}")
    return select


def _page(page: Page, select: str = "ALL_ATTRIBUTES") -> Params:
    result: Params = {"Count": page.count, "ScannedCount": page.scanned}
    if select != "COUNT":
        result["Items"] = page.items
    if page.last_key is not None:
        result["LastEvaluatedKey"] = page.last_key
    return result


def _optional_key(params: Params, field: str) -> Item | None:
    return normalise_item(params[field], field) if params.get(field) else None


_TRANSACT_KINDS = ("Put", "Update", "Delete", "ConditionCheck")


def _transact_action(entry: Params, where: str) -> TransactAction:
    kinds = [kind for kind in _TRANSACT_KINDS if kind in entry]
    if len(kinds) != 1:
        raise validation_exception(
            f"{where} must have exactly one of {', '.join(_TRANSACT_KINDS)}, got {sorted(entry)}"
        )
    kind = kinds[0]
    body = entry[kind]
    expressions = _Expressions(body)
    condition = expressions.condition()
    if kind == "ConditionCheck" and condition is None:
        raise validation_exception(f"{where}.ConditionCheck needs a ConditionExpression")
    update = expressions.update() if kind == "Update" else None
    expressions.done()
    key = (
        normalise_item(body.get("Item"), f"{where}.Put.Item")
        if kind == "Put"
        else normalise_item(body.get("Key"), f"{where}.{kind}.Key")
    )
    return_values = body.get("ReturnValuesOnConditionCheckFailure", "NONE")
    if return_values not in ("NONE", "ALL_OLD"):
        raise validation_exception(
            f"1 validation error detected: Value {return_values!r} at '{where}.{kind}."
            "returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum "
            "value set: [ALL_OLD, NONE]"
        )
    return TransactAction(kind, body.get("TableName", ""), key, condition, update, return_values == "ALL_OLD")


def _consistent(params: Params) -> bool:
    value = params.get("ConsistentRead", False)
    if not isinstance(value, bool):
        raise validation_exception(f"ConsistentRead must be a boolean, got {value!r}")
    return value


def build_dynamodb_api(backend: DynamoDBBackend, metrics: MetricPublisher) -> JsonDispatcher:
    @contextmanager
    def consuming(operation: str) -> Iterator[Consumed]:
        """What one request consumes, published whether it succeeds or not (a failed condition
        consumes too), and its latency when it succeeds."""
        consumed, started = Consumed(), time.perf_counter()
        try:
            yield consumed
        finally:
            publish_consumed(metrics, consumed)
        publish_latency(metrics, operation, consumed, (time.perf_counter() - started) * 1000)

    # BatchWriteItem "can transmit up to 16MB of data over the network": DynamoDB's largest request
    limit = BodyLimit(16 * MIB, request_entity_too_large(16 * MIB))
    api = JsonDispatcher("DynamoDB_20120810", "1.0", RequestShapes("dynamodb"), limit)

    @api.operation("CreateTable")
    def create_table(params: Params) -> Params:
        return {"TableDescription": backend.create_table(params)}

    @api.operation("DescribeTable")
    def describe_table(params: Params) -> Params:
        return {"Table": backend.describe_table(params.get("TableName", ""))}

    @api.operation("DeleteTable")
    def delete_table(params: Params) -> Params:
        return {"TableDescription": backend.delete_table(params.get("TableName", ""))}

    @api.operation("ListTables")
    def list_tables(params: Params) -> Params:
        limit = params.get("Limit", 100)
        if not 1 <= limit <= 100:
            raise validation_exception(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
                "Member must have value between 1 and 100"
            )
        names, last = backend.list_tables(params.get("ExclusiveStartTableName"), limit)
        return {"TableNames": names, **({"LastEvaluatedTableName": last} if last else {})}

    @api.operation("UpdateTimeToLive")
    def update_time_to_live(params: Params) -> Params:
        specification = backend.ttl.update(params.get("TableName", ""), params.get("TimeToLiveSpecification"))
        return {"TimeToLiveSpecification": specification}

    @api.operation("DescribeTimeToLive")
    def describe_time_to_live(params: Params) -> Params:
        return {"TimeToLiveDescription": backend.ttl.describe(params.get("TableName", ""))}

    @api.operation("PutItem")
    def put_item(params: Params) -> Params:
        returns, capacity = _return_values(params, "PutItem"), return_mode(params)
        expressions = _Expressions(params)
        condition = expressions.condition()
        expressions.done()
        table = params.get("TableName", "")
        with consuming("PutItem") as consumed:
            old = backend.put_item(
                table,
                normalise_item(params.get("Item")),
                condition,
                params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD",
                consumed,
            )
        return {
            **_attributes(old if returns == "ALL_OLD" else None),
            **single_response(consumed, capacity, table),
        }

    @api.operation("GetItem")
    def get_item(params: Params) -> Params:
        capacity, consistent = return_mode(params), _consistent(params)
        expressions = _Expressions(params)
        projection = expressions.projection()
        expressions.done()
        table = params.get("TableName", "")
        with consuming("GetItem") as consumed:
            item = backend.get_item(
                table, normalise_item(params.get("Key"), "Key"), projection, consistent, consumed
            )
        return {**({"Item": item} if item is not None else {}), **single_response(consumed, capacity, table)}

    @api.operation("DeleteItem")
    def delete_item(params: Params) -> Params:
        returns, capacity = _return_values(params, "DeleteItem"), return_mode(params)
        expressions = _Expressions(params)
        condition = expressions.condition()
        expressions.done()
        table = params.get("TableName", "")
        with consuming("DeleteItem") as consumed:
            old = backend.delete_item(
                table,
                normalise_item(params.get("Key"), "Key"),
                condition,
                params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD",
                consumed,
            )
        return {
            **_attributes(old if returns == "ALL_OLD" else None),
            **single_response(consumed, capacity, table),
        }

    @api.operation("UpdateItem")
    def update_item(params: Params) -> Params:
        returns, capacity = _return_values(params, "UpdateItem"), return_mode(params)
        expressions = _Expressions(params)
        actions, condition = expressions.update(), expressions.condition()
        expressions.done()
        table = params.get("TableName", "")
        with consuming("UpdateItem") as consumed:
            attributes = backend.update_item(
                table,
                normalise_item(params.get("Key"), "Key"),
                actions,
                condition,
                returns,
                params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD",
                consumed,
            )
        return {**_attributes(attributes), **single_response(consumed, capacity, table)}

    @api.operation("BatchWriteItem")
    def batch_write_item(params: Params) -> Params:
        capacity = return_mode(params)
        requests: dict[str, list[dict]] = {}
        for table, entries in (params.get("RequestItems") or {}).items():
            requests[table] = [
                _write_request(entry, f"RequestItems.{table}[{i}]") for i, entry in enumerate(entries)
            ]
        with consuming("BatchWriteItem") as consumed:
            unprocessed = backend.batch_write(requests, consumed)
        return {"UnprocessedItems": unprocessed, **multi_response(consumed, capacity)}

    @api.operation("TransactWriteItems")
    def transact_write_items(params: Params) -> Params:
        capacity = return_mode(params)
        actions = [
            _transact_action(entry, f"TransactItems[{i}]")
            for i, entry in enumerate(params.get("TransactItems") or [])
        ]
        with consuming("TransactWriteItems") as consumed:
            backend.transact_write(actions, consumed)
        return multi_response(consumed, capacity)

    @api.operation("BatchGetItem")
    def batch_get_item(params: Params) -> Params:
        capacity = return_mode(params)
        request_items = params.get("RequestItems") or {}
        total = sum(len(spec.get("Keys", [])) for spec in request_items.values())
        if not 1 <= total <= MAX_BATCH_GET:
            raise validation_exception(
                f"Too many items requested for the BatchGetItem call: {total} keys, "
                f"the limit is {MAX_BATCH_GET}"
            )
        responses = {}
        with consuming("BatchGetItem") as consumed:
            for table, spec in request_items.items():
                expressions = _Expressions(spec)
                projection = expressions.projection()
                expressions.done()
                keys = [
                    normalise_item(key, f"RequestItems.{table}.Keys[{i}]")
                    for i, key in enumerate(spec["Keys"])
                ]
                responses[table] = backend.batch_get(
                    table, keys, projection, _consistent(spec), consumed, encoded=True
                )
        return {"Responses": responses, "UnprocessedKeys": {}, **multi_response(consumed, capacity)}

    @api.operation("Query")
    def query(params: Params) -> Params:
        select, capacity, consistent = _select(params), return_mode(params), _consistent(params)
        expressions = _Expressions(params)
        key_condition = expressions.condition("KeyConditionExpression")
        if key_condition is None:
            raise validation_exception("KeyConditionExpression is required (KeyConditions is not emulated)")
        filter_condition, projection = expressions.condition("FilterExpression"), expressions.projection()
        expressions.done()
        table = params.get("TableName", "")
        with consuming("Query") as consumed:
            page = backend.query(
                table,
                key_condition,
                filter_condition,
                params.get("ScanIndexForward", True),
                _limit(params),
                _optional_key(params, "ExclusiveStartKey"),
                projection,
                select == "COUNT",
                consistent,
                consumed,
            )
        return {**_page(page, select), **single_response(consumed, capacity, table)}

    @api.operation("Scan")
    def scan(params: Params) -> Params:
        select, capacity, consistent = _select(params), return_mode(params), _consistent(params)
        expressions = _Expressions(params)
        filter_condition, projection = expressions.condition("FilterExpression"), expressions.projection()
        expressions.done()
        table = params.get("TableName", "")
        with consuming("Scan") as consumed:
            page = backend.scan(
                table,
                filter_condition,
                _limit(params),
                _optional_key(params, "ExclusiveStartKey"),
                projection,
                select == "COUNT",
                consistent,
                consumed,
            )
        return {**_page(page, select), **single_response(consumed, capacity, table)}

    return api


def _limit(params: Params) -> int | None:
    limit = params.get("Limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise validation_exception(f"Limit must be an integer >= 1, got {limit!r}")
    return limit


def _write_request(entry: Params, where: str) -> Params:
    if "PutRequest" in entry:
        return {"PutRequest": {"Item": normalise_item(entry["PutRequest"].get("Item"), f"{where}.Item")}}
    if "DeleteRequest" in entry:
        return {"DeleteRequest": {"Key": normalise_item(entry["DeleteRequest"].get("Key"), f"{where}.Key")}}
    return entry  # the backend names what is missing
