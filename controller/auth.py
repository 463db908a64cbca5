"""Who may do what: API roles, and the tokens that carry them.

Every user or device (the chair's console, the technician's, a display wall) has a token. Only
the SHA-256 of each token is stored: tokens are 256-bit random strings, so a fast hash is as
strong as a slow one here, and lookups stay cheap. A token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Role(StrEnum):
    CHAIR = "chair"
    SECRETARY = "secretary"
    TECHNICIAN = "technician"
    OBSERVER = "observer"  # read-only: the wall and the public
    METRICS = "metrics"  # GET /metrics only: the building's Prometheus


# Every role the API's resources serve: a metrics token reads /metrics and nothing else.
ALL_ROLES = frozenset(r for r in Role if r is not Role.METRICS)


class TokenFileError(ValueError):
    """The token file cannot be read; the message says which file and why."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, entries: dict[str, Principal] | None = None) -> None:
        self._by_hash: dict[str, Principal] = dict(entries or {})

    def add(self, name: str, role: Role) -> str:
        """Make a new token for `name`; returns the token (the only time it is seen)."""
        token = secrets.token_urlsafe(32)
        self._by_hash[token_hash(token)] = Principal(name, role)
        return token

    def lookup(self, token: str) -> Principal | None:
        return self._by_hash.get(token_hash(token))

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"name": p.name, "role": p.role.value, "sha256": h} for h, p in self._by_hash.items()
        ]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, ensure_ascii=False, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TokenFileError(f"{path}: {exc}") from None
        if not isinstance(data, list):
            raise TokenFileError(f"{path}: expected a list of tokens")
        entries: dict[str, Principal] = {}
        for i, item in enumerate(data):
            try:
                entries[str(item["sha256"])] = Principal(str(item["name"]), Role(item["role"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise TokenFileError(f"{path}: entry {i}: {exc}") from None
        return cls(entries)
