"""Already-encoded JSON (stored items) spliced into a response reads back as the value it encodes,
on orjson's path and on the standard library's (taken for what orjson refuses, e.g. big integers)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.protocol import json_codec
from emulator.protocol.json_codec import Encoded

documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(documents, max_size=4), st.booleans())
def test_encoded_documents_read_back_as_themselves(items, big_integer):
    response = {"Items": [Encoded(json.dumps(item)) for item in items]}
    if big_integer:  # orjson refuses it: the standard library's path takes the whole response
        response["Count"] = 2**70
    decoded = json_codec.loads(json_codec.dumps(response))
    assert decoded["Items"] == items
