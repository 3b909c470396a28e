"""Typed records (dataclasses) to JSON and back, for backends that write their state through to SQLite.

Field types may be dataclasses, `X | None`, `tuple[X, ...]` and JSON values (str, int, float, bool,
dict, list); fields missing from stored JSON take their defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record))


def from_json(kind: type[T], text: str) -> T:
    return _load(kind, json.loads(text))


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _load(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        fields = [f.name for f in dataclasses.fields(kind) if f.init and f.name in value]
        return kind(**{name: _load(hints[name], value[name]) for name in fields})
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _load(inner, value)
    if origin is tuple:
        return tuple(_load(typing.get_args(kind)[0], item) for item in value)
    return value
