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


# Values `apply` inserts as they are: nothing in them can be changed in place.
_ATOMS = (str, int, float, type(None))


class PatchError(ValueError):
    """An operation that does not fit the document (a path that is not there)."""


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def diff(before: Any, after: Any, memo: Memo | None = None) -> list[Operation]:
    """The operations that turn `before` into `after` (both JSON values).

    The operations' values are parts of `after`, not copies: `apply` copies what it inserts.
    `memo`, shared between calls on documents that share parts (the hub's views), keeps each
    long list's diff by the pair of lists, so a list held by several views is compared once."""
    ops: list[Operation] = []
    _diff(before, after, "", ops, memo)
    return ops


# A long list's operations by (id(before), id(after)), with paths relative to the list.
# Valid while both documents live (the caller holds them for the memo's life).
Memo = dict[tuple[int, int], list[Operation]]

# Lists at least this long have their diff kept in the memo.
_MEMO_LEN = 32


def _diff(before: Any, after: Any, path: str, ops: list[Operation], memo: Memo | None) -> None:
    if before is after or before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            if key not in after:
                ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
        for key, value in after.items():
            if key in before:
                was = before[key]
                # An unchanged member (most of them) costs no path.
                if was is not value and was != value:
                    _diff(was, value, f"{path}/{escape(key)}", ops, memo)
            else:
                ops.append({"op": "add", "path": f"{path}/{escape(key)}", "value": value})
        return
    if isinstance(before, list) and isinstance(after, list):
        if memo is None or len(after) < _MEMO_LEN:
            _diff_list(before, after, path, ops, memo)
            return
        pair = (id(before), id(after))
        part = memo.get(pair)
        if part is None:
            part = memo[pair] = []
            _diff_list(before, after, "", part, memo)
        ops.extend({**op, "path": path + op["path"]} for op in part)
        return
    ops.append({"op": "replace", "path": path, "value": after})


# Members that name an item of a list in the views: a vote, a sitting, an agenda item, a seat,
# a line and a unit's address. Items named alike in both lists are the same item.
_ID_KEYS = ("vote_id", "sitting_id", "id", "seat", "line", "address")


def _identities(items: Sequence[Any]) -> list[Any] | None:
    """Each item's name, or None when one has none or two share one.

    Plain numbers and texts name themselves; an object is named by the first of `_ID_KEYS`
    the list's first item has (the views' lists hold items of one shape). Only the names'
    uniqueness matters for a correct diff: items matched by name are diffed member by member."""
    first = items[0]
    idents: list[Any]
    if isinstance(first, dict):
        key = next((k for k in _ID_KEYS if k in first), None)
        if key is None:
            return None
        try:
            idents = [item.get(key) for item in items]
        except AttributeError:  # not every item is an object
            return None
    elif isinstance(first, int | str) and not isinstance(first, bool):
        idents = list(items)
    else:
        return None
    try:
        unique = len(set(idents)) == len(idents)
    except TypeError:  # a name that is itself a list or an object
        return None
    if not unique or None in idents:
        return None
    return idents


def _diff_list(
    before: list[Any], after: list[Any], path: str, ops: list[Operation], memo: Memo | None
) -> None:
    """What both lists share at their start and at their end stays. In the middle, items that
    name themselves (a seat, a vote: `_ID_KEYS`, or plain numbers and texts) are matched by
    name, when the items both lists keep are in the same order: the ones gone are removed,
    the new ones added where they land (a seat joining a sorted list of 4,096 is one `add`),
    and a kept item that changed is diffed member by member. Anything else is compared index
    by index, and what the middle gained or lost is added or removed at its end."""
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
    if old and new and _diff_by_name(old, new, path, start, ops, memo):
        return
    common = min(len(old), len(new))
    for t in range(common):
        _diff(old[t], new[t], f"{path}/{start + t}", ops, memo)
    at = start + common
    for t in range(common, len(new)):
        ops.append({"op": "add", "path": f"{path}/{at}", "value": new[t]})
        at += 1
    for _ in range(common, len(old)):
        ops.append({"op": "remove", "path": f"{path}/{at}"})


def _diff_by_name(
    old: list[Any], new: list[Any], path: str, offset: int, ops: list[Operation], memo: Memo | None
) -> bool:
    """The middle of `_diff_list` matched by name; False (and no operation) when the items
    have no names, or the items both keep are not in the same order."""
    old_ids = _identities(old)
    if old_ids is None:
        return False
    new_ids = _identities(new)
    if new_ids is None:
        return False
    kept_new, kept_old = set(new_ids), set(old_ids)
    old_kept = [i for i, x in enumerate(old_ids) if x in kept_new]
    new_kept = [j for j, x in enumerate(new_ids) if x in kept_old]
    if [old_ids[i] for i in old_kept] != [new_ids[j] for j in new_kept]:
        return False  # the same items in another order
    # Removed from the last, so that each path names the list as the operations left it;
    # then what is left is the kept items in order, and each new item is added at its final
    # index, lowest first; then the kept items that changed, at their final indexes.
    for i in reversed(range(len(old_ids))):
        if old_ids[i] not in kept_new:
            ops.append({"op": "remove", "path": f"{path}/{offset + i}"})
    for j, name in enumerate(new_ids):
        if name not in kept_old:
            ops.append({"op": "add", "path": f"{path}/{offset + j}", "value": new[j]})
    olds = [old[i] for i in old_kept]
    news = [new[j] for j in new_kept]
    if olds != news:
        for i, j in zip(old_kept, new_kept, strict=True):
            _diff(old[i], new[j], f"{path}/{offset + j}", ops, memo)
    return True


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
    value = op.get("value")
    if not isinstance(value, _ATOMS):
        value = copy.deepcopy(value)
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
