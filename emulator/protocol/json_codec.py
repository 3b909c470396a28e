"""JSON on the emulator's hot paths (request and response bodies, stored items, Lambda events).

orjson encodes about 15x and decodes about 1.5x faster than the standard library. What orjson refuses
to encode (integers beyond 64 bits, non-string keys) goes through the standard library; malformed
input raises ValueError from both, and so does input nested deeper than the standard library follows
and the non-JSON constants NaN and Infinity it would otherwise accept. Two differences remain, neither
reachable through the AWS APIs emulated here, which carry big numbers as strings: orjson decodes
integers beyond 64 bits as floats, and encodes NaN as null.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data, parse_constant=_not_json)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class Encoded:
    """JSON text already encoded (e.g. a stored item), which dumps puts into its output as it is instead
    of decoding and encoding it again."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _spliced(value: Any) -> Any:
    if type(value) is Encoded:
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _decoded(value: Any) -> Any:
    if type(value) is Encoded:
        return json.loads(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_spliced).decode()
    except TypeError:
        return json.dumps(value, default=_decoded)
