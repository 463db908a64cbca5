"""Patches between two JSON documents: the RFC 6902 operations `add`, `remove` and `replace`.

The stream sends each audience's view once, then the changes to it. `diff(before, after)`
gives the operations that turn `before` into `after`; `apply(doc, ops)` carries them out. The
views are made of objects keyed by name and of lists that mostly grow at the end (votes,
sittings, seats), so the differ is kept to what they need and is cheap:

- objects are compared key by key: a key gone is `remove`, a new key is `add`, a changed value
  is followed down (a change deep in one vote is one small operation, not the whole vote);
- lists keep what they share at their start and at their end; the middle is compared index by
  index, and what it gained is added (one `add` each) or what it lost removed, there: a seat
  joining a sorted list is one `add`;
- anything else that differs in value or JSON type (`1` is not `true`, `1` is not `1.0`) is
  one `replace`.

Paths are JSON Pointers (RFC 6901). A list of operations applied in order to `before` always
gives `after` exactly (tests/core/test_view.py checks this for random documents).

Pure: no I/O. Written here rather than taken from a library because the browser's wall and the
console apply the same three operations (controller/static/wall/patch.js is the same code in
JavaScript), and a general JSON Patch library's list differ (moves, copies) is slower and gains
nothing on these views.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

Operation = dict[str, Any]


class PatchError(ValueError):
    """An operation that does not fit the document (a path that is not there)."""


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _equal(a: Any, b: Any) -> bool:
    """Equal as JSON, types included (`1` is not `true` nor `1.0`), however deep."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff(before: Any, after: Any) -> list[Operation]:
    """The operations that turn `before` into `after` (both JSON values).

    The operations' values are parts of `after`, not copies: `apply` copies what it inserts."""
    ops: list[Operation] = []
    _diff(before, after, "", ops)
    return ops


def _diff(before: Any, after: Any, path: str, ops: list[Operation]) -> None:
    if before is after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            if key not in after:
                ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
        for key, value in after.items():
            where = f"{path}/{escape(key)}"
            if key in before:
                _diff(before[key], value, where, ops)
            else:
                ops.append({"op": "add", "path": where, "value": value})
        return
    if isinstance(before, list) and isinstance(after, list):
        # What both share at the start and at the end stays; the middle is patched item by
        # item, and what it gained or lost is added or removed there. A seat joining a sorted
        # list of 4,096 is one `add`, not 4,096 `replace`s.
        n_before, n_after = len(before), len(after)
        start = 0
        while start < n_before and start < n_after and _equal(before[start], after[start]):
            start += 1
        end = 0
        while (
            end < n_before - start
            and end < n_after - start
            and _equal(before[n_before - 1 - end], after[n_after - 1 - end])
        ):
            end += 1
        old, new = n_before - start - end, n_after - start - end
        common = min(old, new)
        for i in range(start, start + common):
            _diff(before[i], after[i], f"{path}/{i}", ops)
        for i in range(start + common, start + new):
            ops.append({"op": "add", "path": f"{path}/{i}", "value": after[i]})
        for i in range(start + old - 1, start + common - 1, -1):
            ops.append({"op": "remove", "path": f"{path}/{i}"})
        return
    if isinstance(before, dict | list) or isinstance(after, dict | list):
        ops.append({"op": "replace", "path": path, "value": after})
        return
    if not _same(before, after):
        ops.append({"op": "replace", "path": path, "value": after})


def apply(doc: Any, ops: Sequence[Operation]) -> Any:
    """`doc` with `ops` applied in order. Containers are changed in place; the result is the
    document's new root (a `replace` of the root path "" gives a new one)."""
    for op in ops:
        doc = _apply_one(doc, op)
    return doc


def _apply_one(doc: Any, op: Operation) -> Any:
    kind = op.get("op")
    path = op.get("path")
    if kind not in ("add", "remove", "replace") or not isinstance(path, str):
        raise PatchError(f"unsupported operation {op!r}")
    if path == "":
        if kind == "remove":
            raise PatchError("cannot remove the whole document")
        return copy.deepcopy(op.get("value"))
    if not path.startswith("/"):
        raise PatchError(f"not a JSON pointer: {path!r}")
    tokens = [unescape(t) for t in path[1:].split("/")]
    parent = doc
    for token in tokens[:-1]:
        parent = _child(parent, token, path)
    last = tokens[-1]
    value = copy.deepcopy(op.get("value"))
    if isinstance(parent, dict):
        if kind != "add" and last not in parent:
            raise PatchError(f"{path}: no such member")
        if kind == "remove":
            del parent[last]
        else:
            parent[last] = value
        return doc
    if isinstance(parent, list):
        index = len(parent) if last == "-" and kind == "add" else _index(last, path)
        if kind == "add":
            if index > len(parent):
                raise PatchError(f"{path}: index out of range")
            parent.insert(index, value)
        elif index >= len(parent):
            raise PatchError(f"{path}: index out of range")
        elif kind == "remove":
            del parent[index]
        else:
            parent[index] = value
        return doc
    raise PatchError(f"{path}: the parent is not a container")


def _child(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f"{path}: no member {token!r}")
        return node[token]
    if isinstance(node, list):
        index = _index(token, path)
        if index >= len(node):
            raise PatchError(f"{path}: index out of range")
        return node[index]
    raise PatchError(f"{path}: {token!r} is inside a value that is not a container")


def _index(token: str, path: str) -> int:
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"{path}: {token!r} is not a list index")
    return int(token)
