"""Patches between two JSON documents: the RFC 6902 operations `add`, `remove` and `replace`.

The stream sends each audience's view once, then the changes to it. `diff(before, after)`
gives the operations that turn `before` into `after`; `apply(doc, ops)` carries them out. The
views are made of objects keyed by name and of lists that mostly grow at the end (votes,
sittings, seats), so the differ is kept to what they need and is cheap:

- objects are compared key by key: a key gone is `remove`, a new key is `add`, a changed value
  is followed down (a change deep in one vote is one small operation, not the whole vote);
- lists keep what they share at their start and at their end; in the middle, items that name
  themselves (a vote by `vote_id`, a seat by `seat`, a plain number) are matched by name, so
  a seat joining a sorted list is one `add` wherever it lands; other items are compared index
  by index, and what the list gained is added (one `add` each) or what it lost removed;
- anything else that differs is one `replace`.

Equal means equal as Python compares the values (fast, in C): `1`, `1.0` and `true` are one
value to the differ. The views never change a member's JSON type, so nothing is missed.

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


def diff(before: Any, after: Any) -> list[Operation]:
    """The operations that turn `before` into `after` (both JSON values).

    The operations' values are parts of `after`, not copies: `apply` copies what it inserts."""
    ops: list[Operation] = []
    _diff(before, after, "", ops)
    return ops


def _diff(before: Any, after: Any, path: str, ops: list[Operation]) -> None:
    if before is after or before == after:
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
        _diff_list(before, after, path, ops)
        return
    if isinstance(before, dict | list) or isinstance(after, dict | list):
        ops.append({"op": "replace", "path": path, "value": after})
        return
    ops.append({"op": "replace", "path": path, "value": after})


# Members that name an item of a list in the views: a vote, a sitting, an agenda item, a seat,
# a line and a unit's address. Items named alike in both lists are the same item.
_ID_KEYS = ("vote_id", "sitting_id", "id", "seat", "line", "address")


def _identity(item: Any) -> Any:
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, int | str):
        return item
    if isinstance(item, dict):
        ident = tuple(item.get(k) for k in _ID_KEYS if k in item)
        if ident and all(isinstance(v, int | str) for v in ident):
            return ident
    return None


def _identities(items: Sequence[Any]) -> list[Any] | None:
    """Each item's identity, or None when one has none or two share one."""
    idents = [_identity(item) for item in items]
    if None in idents or len(set(idents)) != len(idents):
        return None
    return idents


def _diff_list(before: list[Any], after: list[Any], path: str, ops: list[Operation]) -> None:
    """What both lists share at their start and at their end stays. In the middle, items that
    name themselves (a seat, a vote: `_ID_KEYS`, or plain numbers and texts) are matched by
    name: a seat joining a sorted list of 4,096 is one `add`, a seat leaving one `remove`.
    Anything else is compared index by index, and what the middle gained or lost is added or
    removed at its end."""
    n_before, n_after = len(before), len(after)
    start = 0
    while start < n_before and start < n_after and before[start] == after[start]:
        start += 1
    end = 0
    while (
        end < n_before - start
        and end < n_after - start
        and before[n_before - 1 - end] == after[n_after - 1 - end]
    ):
        end += 1
    old = before[start : n_before - end]
    new = after[start : n_after - end]
    i = j = 0
    at = start  # where the next item goes in the list as the operations so far left it
    old_ids = _identities(old) if old and new else None
    new_ids = _identities(new) if old_ids is not None else None
    if old_ids is not None and new_ids is not None:
        kept, came = set(new_ids), set(old_ids)
        while i < len(old) and j < len(new):
            if old_ids[i] not in kept:
                ops.append({"op": "remove", "path": f"{path}/{at}"})
                i += 1
            elif new_ids[j] not in came:
                ops.append({"op": "add", "path": f"{path}/{at}", "value": new[j]})
                at += 1
                j += 1
            elif old_ids[i] == new_ids[j]:
                _diff(old[i], new[j], f"{path}/{at}", ops)
                at += 1
                i += 1
                j += 1
            else:
                break  # the same items in another order: index by index from here
    common = min(len(old) - i, len(new) - j)
    for t in range(common):
        _diff(old[i + t], new[j + t], f"{path}/{at + t}", ops)
    at += common
    for t in range(j + common, len(new)):
        ops.append({"op": "add", "path": f"{path}/{at}", "value": new[t]})
        at += 1
    for _ in range(i + common, len(old)):
        ops.append({"op": "remove", "path": f"{path}/{at}"})


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
