"""Every input survives the journal's record form, and bad records get a typed error."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.inputs import (
    INPUT_TYPES,
    Input,
    InputRecordError,
    OpenSitting,
    from_record,
    to_record,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
st.register_type_strategy(float, finite)


@pytest.mark.parametrize("kind", sorted(INPUT_TYPES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_input_round_trips_through_json(kind: str, data: st.DataObject) -> None:
    inp: Input = data.draw(st.builds(INPUT_TYPES[kind]))
    record = json.loads(json.dumps(to_record(inp), ensure_ascii=False))
    assert from_record(record) == inp


def test_vietnamese_survives() -> None:
    inp = from_record(to_record(OpenSitting(1.0, "k1", "Kỳ họp thứ mười hai", ())))
    assert isinstance(inp, OpenSitting)
    assert inp.title == "Kỳ họp thứ mười hai"


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(INPUT_TYPES)) | st.text(max_size=5),
    fields=st.dictionaries(
        st.sampled_from(["at", "seat", "key", "vote_id", "present", "list", "agenda", "x"]),
        json_values,
    ),
)
def test_garbage_records_raise_only_the_typed_error(kind: str, fields: dict[str, Any]) -> None:
    try:
        inp = from_record({"kind": kind, **fields})
    except InputRecordError:
        return
    # Whatever was accepted is a well-formed input that round-trips.
    assert from_record(to_record(inp)) == inp
    assert not (isinstance(inp.at, float) and math.isnan(inp.at))
