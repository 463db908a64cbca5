"""`chamber users`: the operators' accounts, one per person, in the token file.

    chamber users add --name "Trần Thị Bình" --role chair [--id pho-chu-tich]
    chamber users list
    chamber users disable ID [--enable]
    chamber users reset ID
    chamber users remove ID

The file is the daemon's token file (`DATA/tokens.json`, or `--tokens FILE`): it lives in
the data directory because the daemon's account owns that directory and may write there under
systemd, while the hall file's directory (`/etc/chamber`) is read-only to the service and
readable by others. A token is printed once, by `add` and `reset`, and never again: only its
hash is kept. A running daemon reads the file again when it changes: a disabled, removed or
reset account is refused from then on, and its open stream connections are closed.

Words are Vietnamese or English (`--lang`, Vietnamese by default).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from chamber.controller.auth import AccountError, Role, TokenFileError, TokenStore
from chamber.controller.core.model import Language

# key -> (Vietnamese, English)
WORDS: dict[str, tuple[str, str]] = {
    "added": (
        "Đã tạo tài khoản {id}: {name} ({role}).",
        "Added account {id}: {name} ({role}).",
    ),
    "token": (
        "Mã truy cập (chỉ hiện lần này, hãy trao cho người dùng):",
        "Token (shown this once only: hand it to its holder):",
    ),
    "reset": (
        "Đã cấp mã truy cập mới cho {id}: {name}; mã cũ không còn dùng được.",
        "New token for {id}: {name}; the old one no longer works.",
    ),
    "removed": ("Đã xóa tài khoản {id}: {name}.", "Removed account {id}: {name}."),
    "disabled": ("Đã khóa tài khoản {id}: {name}.", "Disabled account {id}: {name}."),
    "enabled": ("Đã mở khóa tài khoản {id}: {name}.", "Enabled account {id}: {name}."),
    "none": ("Chưa có tài khoản nào.", "No accounts yet."),
    "head": ("MÃ\tTÊN\tVAI TRÒ\tTRẠNG THÁI", "ID\tNAME\tROLE\tSTATE"),
    "active": ("đang dùng", "active"),
    "locked": ("đã khóa", "disabled"),
    "old_token": ("mã kiểu cũ", "old-style token"),
    "role.chair": ("chủ tọa", "chair"),
    "role.secretary": ("thư ký", "secretary"),
    "role.technician": ("kỹ thuật viên", "technician"),
    "role.observer": ("quan sát", "observer"),
    "role.metrics": ("giám sát (Prometheus)", "metrics (Prometheus)"),
    "error": ("lỗi", "error"),
}


def word(language: Language, key: str, **params: str) -> str:
    vi, en = WORDS[key]
    return (vi if language is Language.VI else en).format(**params)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=Path("var"), help="the daemon's data directory"
    )
    parser.add_argument("--tokens", type=Path, help="the token file (default: DATA/tokens.json)")
    parser.add_argument("--lang", choices=[lang.value for lang in Language], default="vi")
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="a new account; prints its token once")
    add.add_argument("--name", required=True, help="the person's name, as the minutes give it")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--id", dest="account_id", help="the account's id (default: from the role)")
    sub.add_parser("list", help="the accounts").add_argument(
        "--json", action="store_true", help="as JSON"
    )
    for name, text in (
        ("remove", "remove an account (its token stops working at once)"),
        ("reset", "a new token for an account; prints it once"),
        ("disable", "disable an account (its token stops working at once)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("account_id", metavar="ID")
        if name == "disable":
            p.add_argument("--enable", action="store_true", help="enable it again")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One `chamber users` at a time changes the file (a lock file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def run(args: argparse.Namespace) -> int:
    language = Language(args.lang)
    path: Path = args.tokens or args.data / "tokens.json"
    try:
        with _locked(path):
            return _run(args, language, path)
    except (AccountError, TokenFileError) as exc:
        print(f"{word(language, 'error')}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{word(language, 'error')}: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, language: Language, path: Path) -> int:
    store = TokenStore.load(path) if path.exists() else TokenStore(path=path)
    action = args.users_command
    if action == "list":
        return _list(store, language, as_json=args.json)
    if action == "add":
        account, token = store.create(args.name, Role(args.role), args.account_id)
        store.save(path)
        print(word(language, "added", **_fields(account.id, account.name, account.role, language)))
        print(word(language, "token"))
        print(token)
        return 0
    account_id: str = args.account_id
    if action == "reset":
        account, token = store.reset(account_id)
        store.save(path)
        print(word(language, "reset", **_fields(account.id, account.name, account.role, language)))
        print(word(language, "token"))
        print(token)
        return 0
    if action == "remove":
        account = store.remove(account_id)
        key = "removed"
    else:
        account = store.set_disabled(account_id, not args.enable)
        key = "enabled" if args.enable else "disabled"
    store.save(path)
    print(word(language, key, **_fields(account.id, account.name, account.role, language)))
    return 0


def _fields(account_id: str, name: str, role: Role, language: Language) -> dict[str, str]:
    return {"id": account_id, "name": name, "role": word(language, f"role.{role.value}")}


def _list(store: TokenStore, language: Language, *, as_json: bool) -> int:
    accounts = store.accounts
    if as_json:
        rows = [
            {
                "id": a.id,
                "name": a.name,
                "role": a.role.value,
                "disabled": a.disabled,
                "scheme": a.credential.scheme,
            }
            for a in accounts
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not accounts:
        print(word(language, "none"))
        return 0
    print(word(language, "head"))
    for a in accounts:
        state = word(language, "locked" if a.disabled else "active")
        if a.credential.scheme == "sha256":
            state += f" ({word(language, 'old_token')})"
        print(f"{a.id}\t{a.name}\t{word(language, f'role.{a.role.value}')}\t{state}")
    return 0
