"""DynamoDB expressions: one tokenizer and recursive-descent parser for condition, key-condition,
filter, projection and update expressions, and the evaluator that applies them to items.

Placeholders (`#name`, `:value`) are resolved while parsing, and every placeholder used is recorded in
`Placeholders` so the request can reject unused or undefined ones the way DynamoDB does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from emulator.dynamodb.values import (
    NUMBER_CONTEXT,
    SCALAR_TYPES,
    Item,
    Value,
    equal,
    format_number,
    normalise,
    sort_key,
    value_type,
)
from emulator.protocol.errors import AwsError, validation_exception

Path = tuple[str | int, ...]
Node = tuple[Any, ...]

_TOKEN = re.compile(r"\s*(<>|<=|>=|[=<>(),.\[\]+-]|#[A-Za-z0-9_]+|:[A-Za-z0-9_]+|[A-Za-z0-9_]+)")
_COMPARATORS = {"=", "<>", "<", "<=", ">", ">="}
_FUNCTIONS = {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"}


@dataclass
class Placeholders:
    """ExpressionAttributeNames/Values of one request, with what the expressions actually used."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> Placeholders:
        values = {
            key: normalise(value, f"ExpressionAttributeValues.{key}")
            for key, value in (params.get("ExpressionAttributeValues") or {}).items()
        }
        return cls(dict(params.get("ExpressionAttributeNames") or {}), values)

    def name(self, token: str) -> str:
        if token not in self.names:
            raise validation_exception(
                f"Invalid expression: An expression attribute name used in the document path is not defined; "
                f"attribute name: {token}"
            )
        self.used_names.add(token)
        return self.names[token]

    def value(self, token: str) -> Value:
        if token not in self.values:
            raise validation_exception(
                f"Invalid expression: An expression attribute value used in expression is not defined; "
                f"attribute value: {token}"
            )
        self.used_values.add(token)
        return self.values[token]

    def check_all_used(self) -> None:
        for label, given, used in (
            ("ExpressionAttributeValues", self.values, self.used_values),
            ("ExpressionAttributeNames", self.names, self.used_names),
        ):
            unused = ", ".join(sorted(set(given) - used))
            if unused:
                raise validation_exception(
                    f"Value provided in {label} unused in expressions: keys: {{{unused}}}"
                )


class _Parser:
    def __init__(self, text: str, placeholders: Placeholders | _Unresolved, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.placeholders = placeholders
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list[str]:
        tokens, pos = [], 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            if not match:
                self.fail(f'Syntax error; token: "{text[pos:].strip()[:1]}", near: "{text[pos : pos + 10]}"')
            tokens.append(match.group(1))
            pos = match.end()
        return tokens

    def fail(self, message: str) -> None:
        raise validation_exception(f"Invalid {self.kind}: {message}")

    def peek(self, offset: int = 0) -> str | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.upper() == word:
            self.pos += 1
            return True
        return False

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None:
            self.fail(f"Syntax error; unexpected end of expression in {self.text!r}")
        if expected is not None and token.upper() != expected.upper():
            self.fail(f'Syntax error; token: "{token}", expected: "{expected}" in {self.text!r}')
        self.pos += 1
        return token

    def done(self) -> None:
        if self.peek() is not None:
            self.fail(f'Syntax error; token: "{self.peek()}", near the end of {self.text!r}')

    # paths and operands

    def path(self) -> Path:
        parts: list[str | int] = [self._name(self.take())]
        while self.peek() in (".", "["):
            if self.take() == ".":
                parts.append(self._name(self.take()))
            else:
                index = self.take()
                if not index.isdigit():
                    self.fail(f"list index must be a number, got {index!r}")
                parts.append(int(index))
                self.take("]")
        return tuple(parts)

    def _name(self, token: str) -> str:
        if token.startswith("#"):
            return self.placeholders.name(token)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            self.fail(f'Syntax error; token: "{token}" is not an attribute name')
        return token

    def operand(self) -> Node:
        token = self.peek()
        if token is None:
            self.fail(f"Syntax error; unexpected end of expression in {self.text!r}")
        if token.startswith(":"):
            self.pos += 1
            return ("value", self.placeholders.value(token))
        if token.lower() == "size" and self.peek(1) == "(":
            self.pos += 2
            path = self.path()
            self.take(")")
            return ("size", path)
        return ("path", self.path())

    # conditions

    def condition(self) -> Node:
        node = self._and()
        while self.keyword("OR"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self.keyword("AND"):
            node = ("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self.keyword("NOT"):
            return ("not", self._not())
        return self._primary()

    def _primary(self) -> Node:
        if self.peek() == "(":
            self.take("(")
            node = self.condition()
            self.take(")")
            return node
        token = self.peek() or ""
        if token.lower() in _FUNCTIONS and self.peek(1) == "(":
            self.pos += 2
            args = [self.operand()]
            while self.peek() == ",":
                self.take(",")
                args.append(self.operand())
            self.take(")")
            return ("function", token.lower(), args)
        left = self.operand()
        if self.keyword("BETWEEN"):
            low = self.operand()
            self.take("AND")
            return ("between", left, low, self.operand())
        if self.keyword("IN"):
            self.take("(")
            options = [self.operand()]
            while self.peek() == ",":
                self.take(",")
                options.append(self.operand())
            self.take(")")
            return ("in", left, options)
        comparator = self.take()
        if comparator not in _COMPARATORS:
            self.fail(f'Syntax error; token: "{comparator}", expected a comparator in {self.text!r}')
        return ("compare", comparator, left, self.operand())

    # updates

    def update(self) -> list[Node]:
        actions: list[Node] = []
        seen: set[str] = set()
        while self.peek() is not None:
            clause = self.take().upper()
            if clause not in ("SET", "REMOVE", "ADD", "DELETE"):
                self.fail(f'Syntax error; token: "{clause}", expected SET, REMOVE, ADD or DELETE')
            if clause in seen:
                self.fail(f'The "{clause}" section can only be used once in an update expression')
            seen.add(clause)
            while True:
                path = self.path()
                if clause == "SET":
                    self.take("=")
                    actions.append(("set", path, self._set_value()))
                elif clause == "REMOVE":
                    actions.append(("remove", path))
                else:
                    actions.append((clause.lower(), path, self.operand()))
                if self.peek() != ",":
                    break
                self.take(",")
        if not actions:
            self.fail("The update expression is empty")
        return actions

    def _set_value(self) -> Node:
        left = self._set_operand()
        if self.peek() in ("+", "-"):
            return ("arith", self.take(), left, self._set_operand())
        return left

    def _set_operand(self) -> Node:
        token = (self.peek() or "").lower()
        if token in ("if_not_exists", "list_append") and self.peek(1) == "(":
            self.pos += 2
            first = self.path() if token == "if_not_exists" else self._set_operand()
            self.take(",")
            second = self._set_operand()
            self.take(")")
            return (token, first, second)
        return self.operand()


@dataclass(frozen=True)
class _NameRef:
    """A `#name` in a parsed template, resolved against each request's placeholders."""

    token: str


@dataclass(frozen=True)
class _ValueRef:
    """A `:value` in a parsed template."""

    token: str


class _Unresolved:
    """Placeholders that parse into references: the parse of a text then holds for any request."""

    def name(self, token: str) -> _NameRef:
        return _NameRef(token)

    def value(self, token: str) -> _ValueRef:
        return _ValueRef(token)


def _condition(parser: _Parser) -> Node:
    node = parser.condition()
    parser.done()
    return node


def _update(parser: _Parser) -> list[Node]:
    actions = parser.update()
    parser.done()
    return actions


def _projection(parser: _Parser) -> list[Path]:
    paths = [parser.path()]
    while parser.peek() == ",":
        parser.take(",")
        paths.append(parser.path())
    parser.done()
    return paths


_GRAMMARS = {"condition": _condition, "update": _update, "projection": _projection}


Resolver = Callable[[Placeholders], Any]


@lru_cache(maxsize=1024)
def _template(grammar: str, text: str) -> Resolver:
    """The parse of `text` with its placeholders left as references, compiled into what resolves them
    for one request. Requests repeat a few texts with different placeholder values, so each text is
    tokenized and parsed once."""
    return _resolver(_GRAMMARS[grammar](_Parser(text, _Unresolved(), grammar)))


def _constant(node: Any) -> Resolver:
    return lambda placeholders: node


def _resolver(node: Any) -> Resolver:
    """A function of the placeholders that rebuilds `node` with its references replaced, in the order
    the text has them (so the first undefined placeholder is the one refused, as when parsing). Parts
    without references are kept as they are: tuples are immutable, and lists are always rebuilt."""
    kind = type(node)
    if kind is _NameRef:
        token = node.token
        return lambda placeholders: placeholders.name(token)
    if kind is _ValueRef:
        token = node.token
        return lambda placeholders: placeholders.value(token)
    if kind is not tuple and kind is not list:
        return _constant(node)
    parts = [(index, _resolver(part)) for index, part in enumerate(node) if _has_references(part)]
    if kind is tuple and not parts:
        return _constant(node)
    template = list(node)

    def rebuilt(placeholders: Placeholders) -> Any:
        built = template.copy()
        for index, resolve in parts:
            built[index] = resolve(placeholders)
        return tuple(built) if kind is tuple else built

    return rebuilt


def _has_references(node: Any) -> bool:
    kind = type(node)
    if kind is _NameRef or kind is _ValueRef or kind is list:  # a list is rebuilt even without any
        return True
    return kind is tuple and any(_has_references(part) for part in node)


def _parse(grammar: str, text: str, placeholders: Placeholders, kind: str) -> Any:
    try:
        template = _template(grammar, text)
    except AwsError:
        # refused: parse it again with the request's placeholders, for the refusal parsing it
        # would have met first (an undefined placeholder before a syntax error) and its wording
        return _GRAMMARS[grammar](_Parser(text, placeholders, kind))
    return template(placeholders)


def parse_condition(text: str, placeholders: Placeholders, kind: str = "ConditionExpression") -> Node:
    return _parse("condition", text, placeholders, kind)


def parse_update(text: str, placeholders: Placeholders) -> list[Node]:
    return _parse("update", text, placeholders, "UpdateExpression")


def parse_projection(text: str, placeholders: Placeholders) -> list[Path]:
    return _parse("projection", text, placeholders, "ProjectionExpression")


# evaluation


def get_path(item: Item, path: Path) -> Value | None:
    current: Any = {"M": item}
    for part in path:
        if isinstance(part, int):
            items = current.get("L") if isinstance(current, dict) else None
            current = items[part] if items is not None and part < len(items) else None
        else:
            members = current.get("M") if isinstance(current, dict) else None
            current = members.get(part) if members is not None else None
        if current is None:
            return None
    return current


def _container(item: Item, path: Path) -> Any:
    """The map (dict) or list that holds the last element of `path`."""
    current: Any = item
    for part in path[:-1]:
        if isinstance(part, int):
            value = current[part] if isinstance(current, list) and part < len(current) else None
        else:
            value = current.get(part) if isinstance(current, dict) else None
        if value is None or not ({"M", "L"} & value.keys()):
            raise validation_exception(
                "The document path provided in the update expression is invalid for update"
            )
        current = value.get("M", value.get("L"))
    return current


def set_path(item: Item, path: Path, value: Value) -> None:
    container = _container(item, path)
    last = path[-1]
    if isinstance(last, int):
        if last < len(container):
            container[last] = value
        else:
            container.append(value)  # DynamoDB appends when the index is past the end
    else:
        container[last] = value


def remove_path(item: Item, path: Path) -> None:
    if get_path(item, path) is None:  # REMOVE of a path that is not there is a no-op
        return
    container = _container(item, path)
    last = path[-1]
    if isinstance(last, int):
        if last < len(container):
            del container[last]
    else:
        container.pop(last, None)


def _operand(item: Item, node: Node) -> Value | None:
    kind = node[0]
    if kind == "value":
        return node[1]
    if kind == "path":
        return get_path(item, node[1])
    value = get_path(item, node[1])  # size(path)
    if value is None:
        return None
    vkind, payload = next(iter(value.items()))
    if vkind in ("N", "BOOL", "NULL"):
        return None
    length = len(payload.encode()) if vkind == "S" else len(payload)
    return {"N": str(length)}


def _ordered(a: Value | None, b: Value | None) -> bool:
    kind = value_type(a)
    return kind is not None and kind == value_type(b) and kind in SCALAR_TYPES


def evaluate(node: Node, item: Item) -> bool:
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], item) and evaluate(node[2], item)
    if kind == "or":
        return evaluate(node[1], item) or evaluate(node[2], item)
    if kind == "not":
        return not evaluate(node[1], item)
    if kind == "compare":
        _, op, left, right = node
        a, b = _operand(item, left), _operand(item, right)
        if op == "=":
            return equal(a, b)
        if op == "<>":
            return a is not None and b is not None and not equal(a, b)
        if not _ordered(a, b):
            return False
        ka, kb = sort_key(a), sort_key(b)
        return {"<": ka < kb, "<=": ka <= kb, ">": ka > kb, ">=": ka >= kb}[op]
    if kind == "between":
        value, low, high = (_operand(item, n) for n in node[1:])
        return (
            _ordered(value, low)
            and _ordered(value, high)
            and sort_key(low) <= sort_key(value) <= sort_key(high)
        )
    if kind == "in":
        value = _operand(item, node[1])
        return any(equal(value, _operand(item, option)) for option in node[2])
    return _function(node[1], [_operand(item, arg) for arg in node[2]], node[2])


def _function(name: str, args: list[Value | None], nodes: list[Node]) -> bool:
    if name in ("attribute_exists", "attribute_not_exists"):
        if len(nodes) != 1 or nodes[0][0] != "path":
            raise validation_exception(
                f"Invalid ConditionExpression: {name} takes exactly one attribute path"
            )
        return (args[0] is not None) == (name == "attribute_exists")
    if len(args) != 2:
        raise validation_exception(f"Invalid ConditionExpression: {name} takes exactly two operands")
    value, operand = args
    if value is None or operand is None:
        return False
    if name == "attribute_type":
        return value_type(value) == operand.get("S")
    if name == "begins_with":
        return (
            value_type(value) == value_type(operand)
            and value_type(value) in ("S", "B")
            and str(next(iter(value.values()))).startswith(str(next(iter(operand.values()))))
        )
    # contains: substring of a string, member of a set or list
    kind, payload = next(iter(value.items()))
    if kind == "S":
        return value_type(operand) == "S" and operand["S"] in payload
    if kind in ("SS", "NS", "BS"):
        return value_type(operand) == kind[0] and any(equal({kind[0]: m}, operand) for m in payload)
    if kind == "L":
        return any(equal(member, operand) for member in payload)
    return False


def _number(value: Value | None, what: str) -> Decimal:
    if value_type(value) != "N":
        raise validation_exception(
            f"An operand in the update expression has an incorrect data type: {what} is {value!r}, expected N"
        )
    return Decimal(value["N"])


def _set_value(item: Item, node: Node) -> Value:
    kind = node[0]
    if kind == "if_not_exists":
        existing = get_path(item, node[1])
        return existing if existing is not None else _set_value(item, node[2])
    if kind == "list_append":
        first, second = _set_value(item, node[1]), _set_value(item, node[2])
        if value_type(first) != "L" or value_type(second) != "L":
            raise validation_exception(
                "An operand in the update expression has an incorrect data type: list_append"
            )
        return {"L": first["L"] + second["L"]}
    if kind == "arith":
        _, op, left, right = node
        a, b = (
            _number(_set_value(item, left), "left operand"),
            _number(_set_value(item, right), "right operand"),
        )
        result = NUMBER_CONTEXT.add(a, b) if op == "+" else NUMBER_CONTEXT.subtract(a, b)
        return {"N": format_number(result)}
    value = _operand(item, node)
    if value is None:
        raise validation_exception(
            "The provided expression refers to an attribute that does not exist in the item"
        )
    return value


def apply_update(item: Item, actions: list[Node]) -> set[str]:
    """Apply update actions in place; return the top-level attribute names they touched.

    Every right-hand side is evaluated against the item as it was before the update, like DynamoDB.
    """
    before = {name: value for name, value in item.items()}
    touched: set[str] = set()
    for action in actions:
        kind, path = action[0], action[1]
        touched.add(str(path[0]))
        if kind == "set":
            set_path(item, path, _set_value(before, action[2]))
        elif kind == "remove":
            remove_path(item, path)
        else:
            _add_or_delete(item, kind, path, _operand(before, action[2]))
    return touched


def _add_or_delete(item: Item, kind: str, path: Path, operand: Value | None) -> None:
    existing = get_path(item, path)
    operand_type = value_type(operand)
    if kind == "add" and operand_type == "N":
        base = Decimal(0) if existing is None else _number(existing, "the existing attribute")
        set_path(item, path, {"N": format_number(NUMBER_CONTEXT.add(base, Decimal(operand["N"])))})
        return
    if operand_type not in ("SS", "NS", "BS") or (
        existing is not None and value_type(existing) != operand_type
    ):
        raise validation_exception(
            f"An operand in the update expression has an incorrect data type: {kind.upper()} needs a number "
            f"or a set matching the attribute, got {operand!r}"
        )
    member_type = operand_type[0]

    def contains(members: list, member: Any) -> bool:
        return any(equal({member_type: member}, {member_type: other}) for other in members)

    members = list(existing[operand_type]) if existing else []
    if kind == "add":
        members += [m for m in operand[operand_type] if not contains(members, m)]
    else:
        members = [m for m in members if not contains(operand[operand_type], m)]
    if members:
        set_path(item, path, {operand_type: members})
    else:
        remove_path(item, path)  # an empty set cannot be stored: the attribute goes away


def project(item: Item, paths: list[Path]) -> Item:
    projected: Item = {}
    for path in paths:
        value = get_path(item, path)
        if value is None:
            continue
        if len(path) == 1:
            projected[str(path[0])] = value
            continue
        # nested: rebuild the enclosing maps/lists, keeping only the projected element
        target: Any = projected
        for part, following in zip(path[:-1], path[1:], strict=True):
            holder_kind = "L" if isinstance(following, int) else "M"
            if isinstance(target, dict):
                target = target.setdefault(part, {holder_kind: [] if holder_kind == "L" else {}})[holder_kind]
            else:
                target.append({holder_kind: [] if holder_kind == "L" else {}})
                target = target[-1][holder_kind]
        if isinstance(target, dict):
            target[path[-1]] = value
        else:
            target.append(value)
    return projected
