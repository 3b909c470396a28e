"""Request members checked against the operation's input shape in botocore's service model (installed
with boto3): the types and required members AWS's own deserializer enforces before any service logic,
so a handler only ever sees the JSON types its operation declares.

Each shape compiles once into a checker (a closure per shape) that only answers whether a value fits;
the message naming the member, the expected type and the value is worked out on the slow path, when
a request is refused. Members the model does not know are ignored, as AWS ignores them; a member
whose value is JSON null is absent (and removed before the handler sees the request), a null element
of a list or value of a map is refused.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import Shape

from emulator.protocol.errors import AwsError, validation_exception

Check = Callable[[Any], bool]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_SHORT = reprlib.Repr()  # values quoted in messages, cut short
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 2, 40, 40, 4, 4
_TYPE_NAMES = {"structure": "an object", "map": "an object", "list": "an array", "string": "a string"}


Path = tuple[str | int, ...]  # member names as the model spells them, 1-based list positions


def validation_path(path: Path) -> str:
    """AWS's notation in validation messages: `("Records", 1, "Data")` -> `records.1.member.data`."""
    return ".".join(
        f"{part}.member" if isinstance(part, int) else part[:1].lower() + part[1:] for part in path
    )


@dataclass(frozen=True)
class ShapeErrors:
    """How a service words the two refusals: a member of the wrong type (its path and what was expected
    instead of what came), a required member missing (its path)."""

    wrong_type: Callable[[Path, str], AwsError]
    missing: Callable[[Path], AwsError]


def _wrong_type(path: Path, detail: str) -> AwsError:
    what = f"The value at '{validation_path(path)}'" if path else "The request body"
    return AwsError("SerializationException", f"{what} cannot be deserialized: {detail}")


def _missing(path: Path) -> AwsError:
    return validation_exception(
        f"1 validation error detected: Value null at '{validation_path(path)}' failed to satisfy "
        "constraint: Member must not be null"
    )


# What most JSON-protocol services answer: SerializationException for a value of the wrong type,
# ValidationException in the "1 validation error detected" wording for a missing member.
STANDARD_ERRORS = ShapeErrors(_wrong_type, _missing)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return f"{kind.get(type(value), 'an object')} {_SHORT.repr(value)}"


def _integer(bounds: tuple[int, int]) -> Check:
    low, high = bounds
    return lambda value: type(value) is int and low <= value <= high


def _number(value: Any) -> bool:
    return (type(value) is int) or (type(value) is float and math.isfinite(value))


_PLAIN = {"string": str, "boolean": bool}  # members whose Python type alone says they fit
_SCALARS: dict[str, Check] = {
    "string": lambda value: type(value) is str,
    "boolean": lambda value: type(value) is bool,
    "integer": _integer(_INT32),
    "long": _integer(_INT64),
    "float": _number,
    "double": _number,
    "timestamp": _number,  # JSON protocols carry epoch seconds
    # base64 text; whether it decodes is for the handler to find out (it decodes it anyway)
    "blob": lambda value: type(value) is str,
}


def _expected(shape: Shape) -> str:
    kind = shape.type_name
    if kind in ("integer", "long"):
        bounds = _INT32 if kind == "integer" else _INT64
        return f"an integer between {bounds[0]} and {bounds[1]}"
    if kind in ("float", "double"):
        return "a finite number"
    if kind == "timestamp":
        return "a timestamp in epoch seconds"
    if kind == "blob":
        return "base64-encoded binary data (a string)"
    if kind == "boolean":
        return "true or false"
    return _TYPE_NAMES.get(kind, "a JSON value")


class _Compiler:
    """Shape -> checker, memoised by shape name so recursive shapes (DynamoDB's AttributeValue) close."""

    def __init__(self) -> None:
        self._done: dict[str, Check] = {}

    def compile(self, shape: Shape) -> Check:
        found = self._done.get(shape.name)
        if found is not None:
            return found
        kind = shape.type_name
        if kind in _SCALARS:
            self._done[shape.name] = _SCALARS[kind]
            return _SCALARS[kind]
        if kind not in ("structure", "list", "map"):
            return lambda value: True  # documents: any JSON value
        cell: list[Check] = []
        self._done[shape.name] = lambda value: cell[0](value)  # a recursive reference meets the cell
        if kind == "list":
            cell.append(self._list(shape.member))
        elif kind == "map":
            cell.append(self._map(shape.value))
        else:
            cell.append(self.structure(shape.members, shape.required_members))
        self._done[shape.name] = cell[0]
        return cell[0]

    # Lists and maps are checked in plain loops: a generator per container costs more than its checks.
    def _list(self, member: Shape) -> Check:
        plain = _PLAIN.get(member.type_name)
        if plain is not None:  # a list of strings or booleans: no call per element

            def plain_list(value: Any) -> bool:
                if type(value) is not list:
                    return False
                for element in value:  # noqa: SIM110 - a loop: all() over a generator is slower
                    if type(element) is not plain:
                        return False
                return True

            return plain_list
        item = self.compile(member)

        def checked_list(value: Any) -> bool:
            if type(value) is not list:
                return False
            for element in value:  # noqa: SIM110 - a loop: all() over a generator is slower
                if element is None or not item(element):
                    return False
            return True

        return checked_list

    def _map(self, value_shape: Shape) -> Check:
        plain = _PLAIN.get(value_shape.type_name)
        if plain is not None:

            def plain_map(value: Any) -> bool:
                if type(value) is not dict:
                    return False
                for entry_value in value.values():  # noqa: SIM110 - a loop: all() over a generator is slower
                    if type(entry_value) is not plain:
                        return False
                return True

            return plain_map
        entry = self.compile(value_shape)

        def checked_map(value: Any) -> bool:
            if type(value) is not dict:
                return False
            for entry_value in value.values():  # noqa: SIM110 - a loop: all() over a generator is slower
                if entry_value is None or not entry(entry_value):
                    return False
            return True

        return checked_map

    def structure(self, members: dict[str, Shape], required: list[str]) -> Check:
        # Hot paths (PutRecords' 500 records, DynamoDB items) check mostly strings: those members are
        # checked by their Python type inline, the others through their checker.
        plain = {name: _PLAIN[m.type_name] for name, m in members.items() if m.type_name in _PLAIN}
        checks = {name: self.compile(m) for name, m in members.items() if m.type_name not in _PLAIN}
        needed = frozenset(required)
        plain_type, check_of = plain.get, checks.get

        def structure(value: Any) -> bool:
            if type(value) is not dict:
                return False
            nulls = False
            for name, member_value in value.items():
                if member_value is None:
                    nulls = True
                    continue
                expected = plain_type(name)
                if expected is not None:
                    if type(member_value) is not expected:
                        return False
                    continue
                check = check_of(name)
                if check is not None and not check(member_value):
                    return False
            if nulls:  # absent, as AWS reads them: handlers never see a null member
                for name in [name for name, member_value in value.items() if member_value is None]:
                    del value[name]
            return not needed or value.keys() >= needed

        return structure


@dataclass(frozen=True)
class _Input:
    """The members of an operation's input one protocol reads from the body, and their checker."""

    members: dict[str, Shape]
    required: list[str]
    fits: Check


class _Explainer:
    def __init__(self, errors: ShapeErrors, compiler: _Compiler) -> None:
        self._errors = errors
        self._fits = compiler.compile

    def structure(self, members: dict[str, Shape], required: list[str], value: Any, path: Path) -> AwsError:
        if type(value) is not dict:
            return self._wrong(path, "an object", value)
        for name, member in members.items():
            member_value = value.get(name)
            if member_value is not None and not self._fits(member)(member_value):
                return self.value(member, member_value, (*path, name))
        missing = next(name for name in required if value.get(name) is None)
        return self._errors.missing((*path, missing))

    def value(self, shape: Shape, value: Any, path: Path) -> AwsError:
        """The refusal for the first member (depth first) that does not fit; `value` does not fit `shape`."""
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape.members, shape.required_members, value, path)
        if kind == "list" and type(value) is list:
            for index, item in enumerate(value, start=1):
                if item is None or not self._fits(shape.member)(item):
                    return self.value(shape.member, item, (*path, index))
        if kind == "map" and type(value) is dict:
            for key, item in value.items():
                if item is None or not self._fits(shape.value)(item):
                    return self.value(shape.value, item, (*path, str(key)))
        return self._wrong(path, _expected(shape), value)

    def _wrong(self, path: Path, expected: str, value: Any) -> AwsError:
        return self._errors.wrong_type(path, f"expected {expected}, got {_describe(value)}")


class RequestShapes:
    """One service's operations, checked against botocore's model of that service (loaded on first use)."""

    def __init__(self, service: str, errors: ShapeErrors = STANDARD_ERRORS) -> None:
        self._service = service
        self._compiler = _Compiler()
        self._explainer = _Explainer(errors, self._compiler)
        self._inputs: dict[tuple[str, bool], _Input | None] = {}
        self._model = None

    def _input(self, operation: str, body_only: bool) -> _Input | None:
        key = (operation, body_only)
        if key not in self._inputs:
            if self._model is None:
                self._model = botocore.session.get_session().get_service_model(self._service)
            shape = (
                self._model.operation_model(operation).input_shape
                if operation in self._model.operation_names
                else None
            )
            if shape is None:
                self._inputs[key] = None
            else:
                members = {
                    name: member
                    for name, member in shape.members.items()
                    if not body_only or "location" not in member.serialization
                }
                required = [name for name in shape.required_members if name in members]
                self._inputs[key] = _Input(members, required, self._compiler.structure(members, required))
        return self._inputs[key]

    def check(self, operation: str, params: Any, body_only: bool = False) -> None:
        """Raise the service's AwsError unless `params` (the decoded body) fits `operation`'s input.

        `body_only` for REST-JSON: only the members the model carries in the body, not those in the
        URI, query string or headers."""
        found = self._input(operation, body_only)
        if found is None:  # an operation the model does not know: its body must still be an object
            if type(params) is not dict:
                raise self._explainer.structure({}, [], params, ())
            return
        if not found.fits(params):
            raise self._explainer.structure(found.members, found.required, params, ())
