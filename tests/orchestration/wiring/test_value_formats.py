"""The stored formats: each kind of value round-trips through its open format, and nothing else is
stored (no pickle fallback)."""

import json

import pandas as pd
import pytest

from orchestration.wiring.value_formats import decode, encode


def test_each_kind_round_trips_in_its_format():
    frame = pd.DataFrame({"a": [1.5, 2.0], "b": ["x", "é"]})
    suffix, data = encode("frame", frame)
    assert suffix == ".parquet" and data[:4] == b"PAR1"
    pd.testing.assert_frame_equal(decode(suffix, data), frame)
    assert encode("record", {"b": 1, "a": [1, 2]}) == (
        ".json",
        json.dumps({"a": [1, 2], "b": 1}, indent=2).encode(),
    )
    assert decode(*encode("rows", [1, "two"])) == [1, "two"]
    assert decode(*encode("blob", bytearray(b"\x00\x01"))) == b"\x00\x01"


def test_anything_else_is_refused_by_name():
    with pytest.raises(TypeError, match="model returned object; .* never pickle"):
        encode("model", object())
    with pytest.raises(ValueError, match=r"unknown stored format '\.pkl'"):
        decode(".pkl", b"")
