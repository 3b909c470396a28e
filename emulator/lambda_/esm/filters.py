"""FilterCriteria of a Kinesis event-source mapping: Lambda's filter-pattern syntax over the record's
data decoded as JSON.

A pattern is a JSON object whose only key, for Kinesis, is `data`; it mirrors the data's structure and
ends in lists of rules, any of which may match (OR). All keys of an object must match (AND), and the
mapping's filters are ORed: a record is delivered when any filter matches. Rules:

  "x", 5, true, null          the value equals it (numbers compare numerically)
  {"prefix": "x"}             a string starting with x       {"suffix": "x"}  ending with x
  {"equals-ignore-case": "x"} a string equal to x ignoring case
  {"anything-but": v}         a value other than v (v: a value, a list of values, or {"prefix": ..}
                              or {"suffix": ..}); the field must be there
  {"numeric": [">", 0, "<=", 5]}  a number within the bounds ("<", "<=", "=", ">", ">=")
  {"exists": true|false}      the field is (not) there

When the data field is a list, the rule matches if any element does. Records whose data is not JSON
match no `data` pattern. Records no filter matches are not delivered and count as processed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from emulator.lambda_.errors import invalid_parameter

MAX_FILTERS = 5
MAX_PATTERN_CHARS = 4096
_NUMERIC_OPERATORS = {"<", "<=", "=", ">", ">="}
_MISSING = object()


class _InvalidPattern(ValueError):
    pass


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_scalar(value: Any, where: str) -> None:
    if not (value is None or isinstance(value, str | bool) or _is_number(value)):
        raise _InvalidPattern(f"{where}: {json.dumps(value)} is not a string, number, boolean or null")


def _check_affix(value: Any, operator: str, where: str) -> None:
    if not isinstance(value, str):
        raise _InvalidPattern(f"{where}: {operator} takes a string, got {json.dumps(value)}")


def _check_numeric(bounds: Any, where: str) -> None:
    if not isinstance(bounds, list) or not bounds or len(bounds) % 2 or len(bounds) > 4:
        raise _InvalidPattern(f"{where}: numeric takes one or two [operator, number] pairs")
    for operator, number in zip(bounds[::2], bounds[1::2], strict=True):
        if operator not in _NUMERIC_OPERATORS or not _is_number(number) or not math.isfinite(number):
            raise _InvalidPattern(f"{where}: numeric pair {json.dumps([operator, number])} is not valid")


def _check_rule(rule: Any, where: str) -> None:
    if not isinstance(rule, dict):
        _check_scalar(rule, where)
        return
    if len(rule) != 1:
        raise _InvalidPattern(f"{where}: a rule object has exactly one operator, got {sorted(rule)}")
    operator, value = next(iter(rule.items()))
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        _check_affix(value, operator, where)
    elif operator == "exists":
        if not isinstance(value, bool):
            raise _InvalidPattern(f"{where}: exists takes true or false")
    elif operator == "numeric":
        _check_numeric(value, where)
    elif operator == "anything-but":
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in ("prefix", "suffix"):
                raise _InvalidPattern(f"{where}: anything-but takes a value, a list, prefix or suffix")
            _check_affix(next(iter(value.values())), next(iter(value)), where)
        else:
            for item in value if isinstance(value, list) else [value]:
                _check_scalar(item, where)
    else:
        raise _InvalidPattern(f"{where}: operator {operator!r} is not supported")


def _check_object(pattern: Any, where: str) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise _InvalidPattern(f"{where} must be a non-empty JSON object")
    for key, rules in pattern.items():
        path = f"{where}.{key}"
        if isinstance(rules, dict):
            _check_object(rules, path)
        elif isinstance(rules, list) and rules:
            for rule in rules:
                _check_rule(rule, path)
        else:
            raise _InvalidPattern(f"{path} must be an object or a non-empty list of rules")


def _matches_rule(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        operator, operand = next(iter(rule.items()))
        if operator == "exists":
            return present == operand
        if not present:
            return False
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(operand)
        if operator == "suffix":
            return isinstance(value, str) and value.endswith(operand)
        if operator == "equals-ignore-case":
            return isinstance(value, str) and value.casefold() == operand.casefold()
        if operator == "numeric":
            return _is_number(value) and all(
                _compare(value, op, bound) for op, bound in zip(operand[::2], operand[1::2], strict=True)
            )
        # anything-but
        if isinstance(operand, dict):
            affix, text = next(iter(operand.items()))
            if not isinstance(value, str):
                return True
            return not (value.startswith(text) if affix == "prefix" else value.endswith(text))
        return not any(
            _equal(value, other) for other in (operand if isinstance(operand, list) else [operand])
        )
    return present and _equal(value, rule)


def _equal(value: Any, rule: Any) -> bool:
    if _is_number(rule):
        return _is_number(value) and float(value) == float(rule)
    if isinstance(rule, bool) or rule is None:
        return value is rule
    return isinstance(value, str) and value == rule


def _compare(value: float, operator: str, bound: float) -> bool:
    return {
        "<": value < bound,
        "<=": value <= bound,
        "=": value == bound,
        ">": value > bound,
        ">=": value >= bound,
    }[operator]


def _matches_object(pattern: dict, document: Any) -> bool:
    for key, rules in pattern.items():
        found = document.get(key, _MISSING) if isinstance(document, dict) else _MISSING
        if isinstance(rules, dict):
            children = found if isinstance(found, list) else [found]
            if not any(
                _matches_object(rules, child if isinstance(child, dict) else {}) for child in children
            ):
                return False
            continue
        present = found is not _MISSING
        values = found if isinstance(found, list) and found else [found]
        if not any(_matches_rule(rule, present, value) for rule in rules for value in values):
            return False
    return True


@dataclass(frozen=True)
class RecordFilter:
    """The mapping's filters, parsed: `matches(data)` says whether a record is delivered."""

    patterns: tuple[dict, ...]

    def matches(self, data: bytes) -> bool:
        try:
            document = json.loads(data)
        except ValueError:  # also bytes that are not UTF-8
            return False
        return any(_matches_object(pattern["data"], document) for pattern in self.patterns)


def check_filter_criteria(criteria: Any) -> dict | None:
    """FilterCriteria as stored and returned ({"Filters": [{"Pattern": ...}]}), None when empty."""
    if criteria is None:
        return None
    if not isinstance(criteria, dict) or set(criteria) - {"Filters"}:
        raise invalid_parameter(f"FilterCriteria must be an object with Filters, got {criteria!r}.")
    filters = criteria.get("Filters") or []
    if not isinstance(filters, list):
        raise invalid_parameter(f"FilterCriteria.Filters must be a list, got {filters!r}.")
    if len(filters) > MAX_FILTERS:
        raise invalid_parameter(
            f"FilterCriteria has {len(filters)} filters; an event source mapping takes at most {MAX_FILTERS}."
        )
    for index, entry in enumerate(filters):
        _parse_pattern(entry, index)
    return {"Filters": [{"Pattern": entry["Pattern"]} for entry in filters]} if filters else None


def _parse_pattern(entry: Any, index: int) -> dict:
    where = f"FilterCriteria.Filters[{index}].Pattern"
    text = entry.get("Pattern") if isinstance(entry, dict) else None
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_PATTERN_CHARS:
        raise invalid_parameter(f"{where} must be a string of 1-{MAX_PATTERN_CHARS} characters.")
    try:
        pattern = json.loads(text)
    except ValueError as exc:
        raise invalid_parameter(f"Invalid filter pattern definition: {where} is not JSON ({exc}).") from None
    if not isinstance(pattern, dict) or set(pattern) != {"data"}:
        keys = sorted(pattern) if isinstance(pattern, dict) else pattern
        raise invalid_parameter(
            f"Invalid filter pattern definition: {where} has {json.dumps(keys)}; Kinesis event source "
            "mappings filter on the data key only."
        )
    try:
        _check_object(pattern["data"], "data")
    except _InvalidPattern as exc:
        raise invalid_parameter(f"Invalid filter pattern definition: {where}: {exc}.") from None
    return pattern


def record_filter(criteria: dict | None) -> RecordFilter | None:
    """The matcher for stored FilterCriteria (already checked), None when there are no filters."""
    if not criteria:
        return None
    return RecordFilter(tuple(json.loads(entry["Pattern"]) for entry in criteria["Filters"]))
