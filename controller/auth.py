"""Who may do what: API roles, and the accounts whose tokens carry them.

Every person (the chair, a deputy chair who takes the chair, the secretary, a technician) and
every device (a display wall, the building's Prometheus) has an account of its own: an id, a
name (NFC), a role and a credential, a token shown once, when it is made or reset.

A token is "ID.SECRET" (SECRET: 256 random bits). Only a hash of it is kept, scrypt with a salt
of the account's own (`SCRYPT_N`, `SCRYPT_R`, `SCRYPT_P`), compared in constant time; the
account id in front finds the one hash to check. A token checked once is remembered in memory
(by its SHA-256) until its account changes, so a request costs one dictionary look-up.

The token files of earlier releases (a list of {name, role, sha256}) still load: each entry
becomes an account named as it was (its id its role's name), whose token keeps working as it
is (a SHA-256 of a 256-bit random token is as hard to reverse as a slow hash of it). The file
is written in the new form at the next change (`chamber users`); `chamber users reset` gives
such an account a new token in the new form.

The file (`DATA/tokens.json` by default) is mode 0600 and written atomically (a temporary file
beside it, flushed, then renamed over it). The daemon reads it again when it changes
(`refresh`), so an account removed or disabled by `chamber users` is refused at once, and its
open stream connections are closed (`on_revoke`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
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

# scrypt's cost: 4 MiB and some 10-40 ms per hash; the secret is 256 random
# bits, so the cost guards against nothing but is what a stored credential is expected to have.
SCRYPT_N = 2**12
SCRYPT_R = 8
SCRYPT_P = 1
FILE_VERSION = 2
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
NAME_MAX = 120


class TokenFileError(ValueError):
    """The token file cannot be read; the message says which file and why."""


class AccountError(ValueError):
    """An account cannot be added or changed (a taken id, an empty name ...)."""


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the account's name and role, and its id."""

    name: str
    role: Role
    account: str = ""


@dataclass(frozen=True)
class Credential:
    """A token's stored hash: "scrypt" (salt and hash in hex) or "sha256" (earlier releases)."""

    scheme: str
    hash: str
    salt: str = ""
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def matches(self, secret: str, token: str) -> bool:
        if self.scheme == "sha256":
            return hmac.compare_digest(token_hash(token), self.hash)
        if self.scheme == "scrypt":
            return hmac.compare_digest(
                _scrypt(secret, bytes.fromhex(self.salt), self.n, self.r, self.p).hex(), self.hash
            )
        return False

    def to_json(self) -> dict[str, Any]:
        if self.scheme == "sha256":
            return {"scheme": "sha256", "hash": self.hash}
        return {
            "scheme": self.scheme,
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": self.salt,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, data: Any) -> Credential:
        if not isinstance(data, dict):
            raise ValueError("credential: expected an object")
        scheme = data.get("scheme")
        if scheme == "sha256":
            return cls("sha256", _hex(data.get("hash"), "hash"))
        if scheme == "scrypt":
            n, r, p = (_positive(data.get(k), k) for k in ("n", "r", "p"))
            return cls(
                "scrypt", _hex(data.get("hash"), "hash"), _hex(data.get("salt"), "salt"), n, r, p
            )
        raise ValueError(f"credential: unknown scheme {scheme!r}")


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: Role
    credential: Credential
    disabled: bool = False

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "disabled": self.disabled,
            "credential": self.credential.to_json(),
        }


def _positive(value: Any, what: str) -> int:
    if type(value) is not int or value <= 0 or value > 1 << 20:
        raise ValueError(f"credential: {what} must be a positive integer")
    return value


def _hex(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32,128}", value):
        raise ValueError(f"credential: {what} must be hex digits")
    return value


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def clean_name(name: str) -> str:
    """An account's name as kept: NFC, spaces trimmed; refused if empty or too long."""
    text = " ".join(unicodedata.normalize("NFC", name).split())
    if not text:
        raise AccountError("an account needs a name")
    if len(text) > NAME_MAX:
        raise AccountError(f"a name has at most {NAME_MAX} characters")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise AccountError("a name may not hold control characters")
    return text


def new_credential() -> tuple[str, Credential]:
    """A fresh secret and its scrypt hash with a salt of its own."""
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).hex()
    return secret, Credential("scrypt", digest, salt.hex())


Revoked = Callable[[frozenset[str]], None]


@dataclass
class _Stamp:
    """What the file looked like when it was read: a change of any of these reloads it."""

    inode: int = -1
    mtime_ns: int = -1
    size: int = -1


class TokenStore:
    """The accounts, by id; `lookup` turns a token into its account's `Principal`."""

    def __init__(self, accounts: Iterable[Account] = (), *, path: Path | None = None) -> None:
        self._accounts: dict[str, Account] = {}
        for account in accounts:
            if account.id in self._accounts:
                raise AccountError(f"account id {account.id!r} is used twice")
            self._accounts[account.id] = account
        self._legacy: dict[str, str] = {}
        self._verified: dict[str, str] = {}
        self._listeners: list[Revoked] = []
        self.path = path
        self._stamp = _Stamp()
        self._reindex()

    # --- accounts --------------------------------------------------------------------------

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def _free_id(self, base: str) -> str:
        base = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:24] or "user"
        if not base[0].isalnum():
            base = "u" + base
        candidate, n = base, 1
        while candidate in self._accounts:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def create(self, name: str, role: Role, account_id: str | None = None) -> tuple[Account, str]:
        """A new account; returns it and its token (the only time the token is seen)."""
        name = clean_name(name)
        if account_id is None:
            account_id = self._free_id(role.value)
        elif not ID_PATTERN.match(account_id):
            raise AccountError(
                f"account id {account_id!r}: lower-case letters, digits and '-', at most 32"
            )
        elif account_id in self._accounts:
            raise AccountError(f"account id {account_id!r} is taken")
        secret, credential = new_credential()
        account = Account(account_id, name, role, credential)
        self._accounts[account_id] = account
        self._reindex()
        return account, f"{account_id}.{secret}"

    def add(self, name: str, role: Role) -> str:
        """Make a new account for `name`; returns its token (the only time it is seen)."""
        return self.create(name, role)[1]

    def remove(self, account_id: str) -> Account:
        account = self._need(account_id)
        del self._accounts[account_id]
        self._changed({account_id})
        return account

    def set_disabled(self, account_id: str, disabled: bool) -> Account:
        account = replace(self._need(account_id), disabled=disabled)
        self._accounts[account_id] = account
        self._changed({account_id} if disabled else set())
        return account

    def reset(self, account_id: str) -> tuple[Account, str]:
        """A new token for the account; the old one stops working."""
        secret, credential = new_credential()
        account = replace(self._need(account_id), credential=credential)
        self._accounts[account_id] = account
        self._changed({account_id})
        return account, f"{account_id}.{secret}"

    def _need(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise AccountError(f"no account {account_id!r}")
        return account

    def _reindex(self) -> None:
        old = [a for a in self._accounts.values() if a.credential.scheme == "sha256"]
        self._legacy = {a.credential.hash: a.id for a in old}
        self._verified.clear()

    def _changed(self, revoked: set[str]) -> None:
        self._reindex()
        if revoked:
            for listener in list(self._listeners):
                listener(frozenset(revoked))

    # --- tokens ----------------------------------------------------------------------------

    def lookup(self, token: str) -> Principal | None:
        """The principal whose token this is, or None (unknown, wrong, or a disabled account)."""
        self.refresh()
        digest = token_hash(token)
        known = self._verified.get(digest)
        if known is not None:
            account = self._accounts.get(known)
            return account.principal if account is not None and not account.disabled else None
        account_id, dot, secret = token.partition(".")
        found: Account | None = None
        if dot:
            candidate = self._accounts.get(account_id)
            if candidate is not None and candidate.credential.matches(secret, token):
                found = candidate
        else:
            legacy = self._legacy.get(digest)
            candidate = self._accounts.get(legacy) if legacy is not None else None
            if candidate is not None and candidate.credential.matches(token, token):
                found = candidate
        if found is None or found.disabled:
            return None
        self._verified[digest] = found.id
        return found.principal

    def on_revoke(self, listener: Revoked) -> Callable[[], None]:
        """Call `listener` with the ids of accounts removed, disabled or given a new token;
        returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    # --- the file --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FILE_VERSION,
            "accounts": [a.to_json() for a in self._accounts.values()],
        }

    def save(self, path: Path | None = None) -> None:
        """Write the file atomically, mode 0600."""
        target = path or self.path
        if target is None:
            raise TokenFileError("no token file to save to")
        tmp = target.with_suffix(target.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
        if target == self.path:
            self._stamp = _stamp_of(target)

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        store = cls(_read_accounts(path), path=path)
        store._stamp = _stamp_of(path)
        return store

    def refresh(self) -> bool:
        """Read the file again if it changed since it was read; True if it did. A file that
        cannot be read now keeps the accounts as they were (the next change is read)."""
        if self.path is None:
            return False
        stamp = _stamp_of(self.path)
        if stamp == self._stamp:
            return False
        try:
            accounts = {a.id: a for a in _read_accounts(self.path)}
        except TokenFileError:
            return False
        self._stamp = stamp
        revoked = {
            aid
            for aid, before in self._accounts.items()
            if (now := accounts.get(aid)) is None
            or now.disabled
            or now.credential != before.credential
            or now.role != before.role
        }
        self._accounts = accounts
        self._changed(revoked)
        return True


def _stamp_of(path: Path) -> _Stamp:
    try:
        st = path.stat()
    except OSError:
        return _Stamp()
    return _Stamp(st.st_ino, st.st_mtime_ns, st.st_size)


def _read_accounts(path: Path) -> list[Account]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TokenFileError(f"{path}: {exc}") from None
    if isinstance(data, list):
        return _migrate(path, data)
    if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
        raise TokenFileError(f"{path}: expected a token file of version {FILE_VERSION}")
    items = data.get("accounts")
    if not isinstance(items, list):
        raise TokenFileError(f"{path}: expected a list of accounts")
    accounts: list[Account] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("expected an object")
            account_id = str(item["id"])
            if not ID_PATTERN.match(account_id) or account_id in seen:
                raise ValueError(f"bad or repeated id {account_id!r}")
            disabled = item.get("disabled", False)
            if not isinstance(disabled, bool):
                raise ValueError("disabled must be true or false")
            accounts.append(
                Account(
                    account_id,
                    clean_name(str(item["name"])),
                    Role(item["role"]),
                    Credential.from_json(item["credential"]),
                    disabled,
                )
            )
            seen.add(account_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenFileError(f"{path}: account {i}: {exc}") from None
    return accounts


def _migrate(path: Path, items: list[Any]) -> list[Account]:
    """A token file of an earlier release: each {name, role, sha256} becomes an account named
    as it was, with its role's name as id (chair, chair-2, ...), its token unchanged."""
    store = TokenStore()
    for i, item in enumerate(items):
        try:
            role = Role(item["role"])
            digest = _hex(str(item["sha256"]), "sha256")
            account_id = store._free_id(role.value)
            store._accounts[account_id] = Account(
                account_id, clean_name(str(item["name"])), role, Credential("sha256", digest)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenFileError(f"{path}: entry {i}: {exc}") from None
    return store.accounts


__all__ = [
    "ALL_ROLES",
    "Account",
    "AccountError",
    "Credential",
    "Principal",
    "Role",
    "TokenFileError",
    "TokenStore",
    "clean_name",
    "token_hash",
]
