"""DynamoDB's typed attribute values ({"S": ..}, {"N": ..}, ..): validation, exact numbers, order, size.

Numbers stay decimal strings on the wire and in storage; arithmetic and comparison use Decimal with
DynamoDB's 38 digits of precision, so nothing is rounded through a float.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from emulator.protocol.errors import AwsError, validation_exception

Value = dict[str, Any]
Item = dict[str, Value]

NUMBER_CONTEXT = Context(prec=38, Emin=-130, Emax=125)
SCALAR_TYPES = ("S", "N", "B")
_TYPES = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}
MAX_ITEM_BYTES = 400 * 1024


def parse_number(text: Any, where: str) -> Decimal:
    """The exact number `text` stands for; refused, as DynamoDB refuses it, past 38 significant digits
    or outside 1E-130..9.99..E+125 in magnitude (never rounded to fit)."""
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or "_" in str(text):  # Python's digit separators are not DynamoDB's
        raise validation_exception(
            f"The parameter cannot be converted to a numeric value: {text!r} ({where})"
        )
    if number.is_zero():
        return Decimal(0)
    # digits carry no leading zeros; trailing ones are not significant (1000 is 1E+3)
    if len("".join(map(str, number.as_tuple().digits)).rstrip("0")) > 38:
        raise validation_exception(
            f"Attempting to store more than 38 significant digits in a Number: {text!r} ({where})"
        )
    if number.adjusted() > NUMBER_CONTEXT.Emax:
        raise validation_exception(
            "Number overflow. Attempting to store a number with magnitude larger than supported range "
            f"({where})"
        )
    if number.adjusted() < NUMBER_CONTEXT.Emin:
        raise validation_exception(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range "
            f"({where})"
        )
    return number


def format_number(number: Decimal) -> str:
    """Canonical text DynamoDB returns: no exponent, no trailing zeros (`1.50` -> `1.5`, `1E+2` -> `100`)."""
    if number.is_zero():
        return "0"
    text = format(number.normalize(NUMBER_CONTEXT), "f")
    return text


# A number already in the canonical form format_number returns (no exponent, sign only when negative,
# no leading or trailing zeros, at most 38 digits): most numbers on the wire, accepted as they are.
_CANONICAL_NUMBER = re.compile(r"-?(?:[1-9][0-9]*(?:\.[0-9]*[1-9])?|0\.[0-9]*[1-9])\Z")


def _is_canonical_number(text: str) -> bool:
    return len(text) <= 38 and _CANONICAL_NUMBER.match(text) is not None


def _valid_as_is(value: Any) -> bool:
    """Whether `value` is valid and already canonical, so that normalise would return it unchanged:
    the fast path for the common types, which builds no `where` text (only a refusal needs one) and no
    copy. Anything else (sets, numbers to canonicalise, invalid values) takes normalise's full path."""
    if type(value) is not dict or len(value) != 1:
        return False
    for kind, payload in value.items():
        if kind == "S":
            return type(payload) is str
        if kind == "N":
            return type(payload) is str and _is_canonical_number(payload)
        if kind == "B":
            return type(payload) is str and _is_base64(payload)
        if kind == "M":
            return type(payload) is dict and all(map(_valid_as_is, payload.values()))
        if kind == "L":
            return type(payload) is list and all(map(_valid_as_is, payload))
        if kind == "BOOL":
            return type(payload) is bool
        if kind == "NULL":
            return payload is True
    return False


def normalise(value: Any, where: str) -> Value:
    """Validate one attribute value and return it with canonical numbers."""
    return value if _valid_as_is(value) else _normalised(value, where)


def _normalised(value: Any, where: str) -> Value:
    """normalise's full path: every type, and the refusal naming `where`."""
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _TYPES:
        raise validation_exception(
            f"Supplied AttributeValue has more than one datatypes set, or none: {value!r} at {where}"
        )
    kind, payload = next(iter(value.items()))
    if kind == "N":
        return {"N": format_number(parse_number(payload, where))}
    if kind == "M":
        return {"M": {name: normalise(inner, f"{where}.{name}") for name, inner in payload.items()}}
    if kind == "L":
        return {"L": [normalise(inner, f"{where}[{i}]") for i, inner in enumerate(payload)]}
    if kind in ("SS", "NS", "BS"):
        if not payload:
            raise validation_exception(
                f"One or more parameter values were invalid: An {kind} may not be empty ({where})"
            )
        members = [format_number(parse_number(x, where)) for x in payload] if kind == "NS" else list(payload)
        if kind == "BS":
            for member in members:
                _check_base64(member, where)
        if len(set(members)) != len(members):
            raise validation_exception(
                f"One or more parameter values were invalid: Input collection {payload!r} "
                f"contains duplicates ({where})"
            )
        return {kind: members}
    expected = {"S": str, "B": str, "BOOL": bool, "NULL": bool}[kind]
    if not isinstance(payload, expected) or (kind == "NULL" and payload is not True):
        raise validation_exception(f"Invalid {kind} attribute value {payload!r} at {where}")
    if kind == "B":
        _check_base64(payload, where)
    return {kind: payload}


def _is_base64(payload: str) -> bool:
    try:
        binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _check_base64(payload: Any, where: str) -> None:
    try:
        binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        raise AwsError(
            "SerializationException",
            f"Binary attribute value at {where} is not valid base64: {payload!r:.60}",
        ) from None


def normalise_item(item: Any, where: str = "Item") -> Item:
    if not isinstance(item, dict):
        raise validation_exception(f"{where} must be a map of attribute name to value, got {item!r}")
    return {
        name: value if _valid_as_is(value) else _normalised(value, f"{where}.{name}")
        for name, value in item.items()
    }


def equal(a: Value | None, b: Value | None) -> bool:
    if a is None or b is None:
        return False
    (ka, va), (kb, vb) = next(iter(a.items())), next(iter(b.items()))
    if ka != kb:
        return False
    if ka == "N":
        return Decimal(va) == Decimal(vb)
    if ka in ("SS", "BS"):
        return set(va) == set(vb)
    if ka == "NS":
        return {Decimal(x) for x in va} == {Decimal(x) for x in vb}
    if ka == "M":
        return va.keys() == vb.keys() and all(equal(va[k], vb[k]) for k in va)
    if ka == "L":
        return len(va) == len(vb) and all(equal(x, y) for x, y in zip(va, vb, strict=True))
    return va == vb


def sort_key(value: Value) -> Any:
    """Order within one scalar type: N numerically, S by code point (UTF-8 byte order), B bytewise."""
    kind, payload = next(iter(value.items()))
    if kind == "N":
        return Decimal(payload)
    if kind == "B":
        return base64.b64decode(payload)
    return payload


def value_type(value: Value | None) -> str | None:
    return next(iter(value)) if value else None


def key_text(value: Value) -> str:
    """A key value as stored in the index column: type-tagged so `1` (N) and `"1"` (S) differ."""
    kind, payload = next(iter(value.items()))
    return f"{kind}:{payload}"


def value_size(value: Value) -> int:
    """Approximate DynamoDB's item-size accounting (UTF-8 bytes of names and values)."""
    kind, payload = next(iter(value.items()))
    if kind == "S":
        return len(payload.encode())
    if kind == "N":
        return len(payload) // 2 + 2
    if kind == "B":
        return len(base64.b64decode(payload))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in payload.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in payload)
    return sum(value_size({kind[0]: member}) for member in payload)


def item_size(item: Item) -> int:
    """value_size summed with the names; numbers and strings (most attributes) inline, as this runs
    for every item written or read."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        number = value.get("N")  # a value has exactly one type
        if number is not None:
            size += len(number) // 2 + 2
            continue
        text = value.get("S")
        size += len(text.encode()) if text is not None else value_size(value)
    return size


def check_item_size(item: Item) -> int:
    """The item's size; refused over DynamoDB's 400 KB limit."""
    return refuse_oversize(item_size(item))


def refuse_oversize(size: int) -> int:
    """An item size as it is; refused over DynamoDB's 400 KB limit."""
    if size > MAX_ITEM_BYTES:
        raise validation_exception(
            f"Item size has exceeded the maximum allowed size: {size} bytes > {MAX_ITEM_BYTES} bytes"
        )
    return size
