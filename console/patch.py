"""Applying the stream's patches: the RFC 6902 operations `add`, `remove` and `replace`.

The daemon sends its view once, then patches to it (docs/stream.md); these are the only three
operations it sends. The console is a remote client and keeps its own copy of this small
applier instead of importing the daemon's package (the daemon's differ, in
controller/core/patch.py, is checked against this applier in tests/console/test_mirror.py).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


class PatchError(ValueError):
    """An operation that does not fit the document (a path that is not there)."""


def apply(doc: Any, ops: Sequence[Any]) -> Any:
    """`doc` with `ops` applied in order; containers change in place. Returns the new root."""
    for op in ops:
        doc = _apply_one(doc, op)
    return doc


def _apply_one(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict):
        raise PatchError(f"not an operation: {op!r}")
    kind, path = op.get("op"), op.get("path")
    if kind not in ("add", "remove", "replace") or not isinstance(path, str):
        raise PatchError(f"unsupported operation {op!r}")
    if path == "":
        if kind == "remove":
            raise PatchError("cannot remove the whole document")
        return copy.deepcopy(op.get("value"))
    if not path.startswith("/"):
        raise PatchError(f"not a JSON pointer: {path!r}")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
    parent = doc
    for token in tokens[:-1]:
        if isinstance(parent, dict) and token in parent:
            parent = parent[token]
        elif isinstance(parent, list) and _is_index(token) and int(token) < len(parent):
            parent = parent[int(token)]
        else:
            raise PatchError(f"{path}: no {token!r}")
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
        if kind == "add" and last == "-":
            parent.append(value)
            return doc
        if not _is_index(last):
            raise PatchError(f"{path}: {last!r} is not a list index")
        index = int(last)
        if index > len(parent) or (kind != "add" and index == len(parent)):
            raise PatchError(f"{path}: index out of range")
        if kind == "add":
            parent.insert(index, value)
        elif kind == "remove":
            del parent[index]
        else:
            parent[index] = value
        return doc
    raise PatchError(f"{path}: the parent is not a container")


def _is_index(token: str) -> bool:
    return token.isdigit() and (token == "0" or not token.startswith("0"))
