"""The MQTT wall's seat map checks the view's seat lists as a whole, at C speed, and falls back
to checking item by item: whatever the lists hold, the answer is the item-by-item answer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.wall import WallStateError, _choices, _count, _counts, _list, _map

values = st.one_of(
    st.integers(-2, 60), st.booleans(), st.none(), st.floats(-1, 5), st.text(max_size=2)
)
choices = st.lists(
    st.one_of(
        st.fixed_dictionaries({"seat": values, "key": values}),
        st.dictionaries(st.sampled_from(["seat", "key", "x"]), values, max_size=3),
        values,
    ),
    max_size=8,
)


def outcome(f: Any, *args: Any) -> Any:
    try:
        return f(*args)
    except WallStateError:
        return WallStateError


def counts_one_by_one(value: Any) -> set[int]:
    return {_count(s, "where") for s in _list(value, "where")}


def choices_one_by_one(value: Any) -> dict[int, int]:
    keys: dict[int, int] = {}
    for choice in _list(value, "show.choices"):
        c = _map(choice, "show.choices")
        keys[_count(c.get("seat"), "choice.seat")] = _count(c.get("key"), "choice.key")
    return keys


@given(st.lists(values, max_size=8) | values)
def test_counts_as_a_whole_are_counts_one_by_one(value: Any) -> None:
    assert outcome(_counts, value, "where") == outcome(counts_one_by_one, value)


@given(choices | values)
def test_choices_as_a_whole_are_choices_one_by_one(value: Any) -> None:
    assert outcome(_choices, value) == outcome(choices_one_by_one, value)
