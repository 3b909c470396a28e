"""The compiled request checker against a plain reading of botocore's model: for generated bodies of the
hot operations (mostly fitting, sometimes a member of the wrong type, a null or a missing member
anywhere), the checker accepts exactly the bodies the reference accepts, and removes null members."""

from __future__ import annotations

import copy
import math

import botocore.session
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.protocol.errors import AwsError
from emulator.protocol.shapes import RequestShapes

OPERATIONS = [("dynamodb", "TransactWriteItems"), ("dynamodb", "BatchWriteItem"), ("kinesis", "PutRecords")]
_MODELS = {service: botocore.session.get_session().get_service_model(service) for service, _ in OPERATIONS}
_INTEGER = {"integer": 2**31, "long": 2**63}


def _fits(shape, value) -> bool:
    """The reference: the model read plainly, nulls in a structure being absent members."""
    kind = shape.type_name
    if kind == "structure":
        if type(value) is not dict:
            return False
        present = {name: member for name, member in value.items() if member is not None}
        return all(
            _fits(shape.members[name], member) for name, member in present.items() if name in shape.members
        ) and all(name in present for name in shape.required_members)
    if kind == "list":
        return type(value) is list and all(x is not None and _fits(shape.member, x) for x in value)
    if kind == "map":
        return type(value) is dict and all(x is not None and _fits(shape.value, x) for x in value.values())
    if kind in ("string", "blob"):
        return type(value) is str
    if kind == "boolean":
        return type(value) is bool
    if kind in _INTEGER:
        return type(value) is int and -_INTEGER[kind] <= value < _INTEGER[kind]
    if kind in ("float", "double", "timestamp"):
        return type(value) is int or (type(value) is float and math.isfinite(value))
    return True


wrong = st.sampled_from([None, None, None, 5, "text", [], {}, True, 1.5])


def _value(draw, shape, depth: int, odds: int):
    """A value of `shape`, one time in `odds` something else in its place (never when `odds` is 0)."""
    if odds and draw(st.integers(1, odds)) == 1:
        return draw(wrong)
    kind = shape.type_name
    if kind == "structure":
        names = list(shape.members)
        if shape.metadata.get("union") or "AttributeValue" in shape.name:
            names = [draw(st.sampled_from(names if depth < 3 else ["S", "N"]))]
        chosen = [n for n in names if n in shape.required_members or draw(st.booleans())]
        if draw(st.integers(0, 20)) == 0 and chosen:
            chosen.pop(draw(st.integers(0, len(chosen) - 1)))  # a required member may go missing
        return {name: _value(draw, shape.members[name], depth + 1, odds) for name in chosen}
    if kind == "list":
        return [_value(draw, shape.member, depth + 1, odds) for _ in range(draw(st.integers(0, 3)))]
    if kind == "map":
        return {f"k{i}": _value(draw, shape.value, depth + 1, odds) for i in range(draw(st.integers(0, 3)))}
    if kind in ("string", "blob"):
        return draw(st.text(max_size=5))
    if kind == "boolean":
        return draw(st.booleans())
    if kind in _INTEGER:
        return draw(st.integers(-(2**64), 2**64))
    return draw(st.one_of(st.integers(), st.floats()))


@st.composite
def bodies(draw):
    service, operation = draw(st.sampled_from(OPERATIONS))
    shape = _MODELS[service].operation_model(operation).input_shape
    odds = draw(st.sampled_from([0, 10, 40, 200]))  # how often a value is replaced by a wrong one
    return service, operation, shape, _value(draw, shape, 0, odds)


_CHECKERS = {service: RequestShapes(service) for service, _ in OPERATIONS}


def _without_nulls(shape, value):
    """What the handler should see: the body with its null structure members removed."""
    if shape.type_name == "structure" and type(value) is dict:
        return {
            name: _without_nulls(shape.members[name], member) if name in shape.members else member
            for name, member in value.items()
            if member is not None
        }
    if shape.type_name == "list" and type(value) is list:
        return [_without_nulls(shape.member, x) for x in value]
    if shape.type_name == "map" and type(value) is dict:
        return {key: _without_nulls(shape.value, x) for key, x in value.items()}
    return value


@settings(max_examples=400, deadline=None)
@given(bodies())
def test_the_checker_accepts_what_the_model_accepts(body):
    service, operation, shape, value = body
    checked = copy.deepcopy(value)
    try:
        _CHECKERS[service].check(operation, checked)
        accepted = True
    except AwsError:
        accepted = False
    assert accepted == _fits(shape, value)
    if accepted:
        assert checked == _without_nulls(shape, value)
