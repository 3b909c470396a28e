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


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)
