"""Is an input well-formed: every field of the type its class declares?

The drivers and the API build inputs from decoded wire messages and checked request bodies,
so a malformed input is a bug upstream; the core still refuses it before it changes anything
(`MeetingCore.handle`): a float key, a boolean seat or a NaN time would otherwise reach the
tallies (`2.0` indexes no list; `True` is seat 1 to a dict) and leave a seat half-counted.

`input_problem(inp)` says what is wrong, or None. Exact types: an `int` field takes an int
and not a bool; a `float` field takes an int or a float, finite; an enum field takes a member
of that enum; a tuple field a tuple of such values. Pure and cheap: the checks of each input
class are built once from its type hints.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from chamber.controller.core.inputs import Input

# A check returns None for a good value, or what it expected instead.
_Check = Callable[[Any], str | None]


def _int(value: Any) -> str | None:
    return None if type(value) is int else "an integer"


def _bool(value: Any) -> str | None:
    return None if type(value) is bool else "true or false"


def _str(value: Any) -> str | None:
    return None if type(value) is str else "text"


def _float(value: Any) -> str | None:
    if type(value) in (int, float) and math.isfinite(value):
        return None
    return "a finite number"


def _anything(value: Any) -> str | None:
    return None


def _check_for(hint: Any) -> _Check:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) != 1:
            return _anything
        inner = _check_for(options[0])
        return lambda v: None if v is None else inner(v)
    if origin is tuple:
        item = _check_for(typing.get_args(hint)[0])

        def check_tuple(value: Any) -> str | None:
            if type(value) is not tuple:
                return "a tuple"
            for v in value:
                wrong = item(v)
                if wrong is not None:
                    return f"a tuple of {wrong}"
            return None

        return check_tuple
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        enum_type = hint
        return lambda v: None if isinstance(v, enum_type) else f"a {enum_type.__name__}"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        record_type = hint
        fields = _fields_of(record_type)

        def check_record(value: Any) -> str | None:
            if type(value) is not record_type:
                return f"a {record_type.__name__}"
            for name, check in fields:
                if check(getattr(value, name)) is not None:
                    return f"a {record_type.__name__} with a good {name}"
            return None

        return check_record
    return {int: _int, bool: _bool, str: _str, float: _float}.get(hint, _anything)


def _fields_of(cls: type[Any]) -> tuple[tuple[str, _Check], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _check_for(hints[f.name])) for f in dataclasses.fields(cls))


_CHECKS: dict[type[Any], tuple[tuple[str, _Check], ...]] = {}


def input_problem(inp: Input, *, show_value: bool = True) -> str | None:
    """What is malformed in `inp` ("key: expected an integer, got 2.0"), or None.

    `show_value=False` leaves the value out (a key pressed in a secret ballot is not shown,
    not even a malformed one)."""
    cls = type(inp)
    checks = _CHECKS.get(cls)
    if checks is None:
        checks = _CHECKS[cls] = _fields_of(cls)
    for name, check in checks:
        value = getattr(inp, name)
        wrong = check(value)
        if wrong is not None:
            if not show_value:
                return f"{name}: expected {wrong}"
            text = repr(value)
            shown = text if len(text) <= 40 else text[:40] + "..."
            return f"{name}: expected {wrong}, got {shown}"
    return None
