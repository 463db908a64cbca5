"""`chamber sitting`: a sitting prepared in advance.

- `chamber sitting check FILE --hall HALL`: validate a sitting file against the hall file,
  offline, and print what it holds (the agenda, each item's votes with their rule, mode and
  time) and the warnings the daemon would give. Exit status 0 when the file can be loaded.
- `chamber sitting load FILE [--url URL] [--token TOKEN] [--check]`: send it to a running
  daemon (`POST /api/sitting/load`), which opens the sitting and prepares its votes. The token
  (a secretary's or the chair's) may come from CHAMBER_TOKEN, so that it does not show in the
  process list; the address from CHAMBER_URL. `--check` asks the daemon what a load would do.

Words are Vietnamese or English (`--lang`, by default the hall's for `check`, Vietnamese for
`load`); the daemon words its refusals in the language asked.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from chamber.controller.core.limits import UNTIMED
from chamber.controller.core.model import Language

DEFAULT_URL = "http://127.0.0.1:8700"
# The daemon answers a load within a commit; a slow disk may take a few seconds.
TIMEOUT_S = 30.0

# key -> (Vietnamese, English)
WORDS: dict[str, tuple[str, str]] = {
    "sitting": ("Kỳ họp", "Sitting"),
    "date": ("Ngày", "Date"),
    "place": ("Địa điểm", "Place"),
    "chair": ("Chủ tọa", "Chair"),
    "secretary": ("Thư ký", "Secretary"),
    "delegate": ("đại biểu", "delegate"),
    "item": ("Nội dung", "Item"),
    "untimed": ("không giới hạn thời gian", "untimed"),
    "mode.open": ("công khai", "open"),
    "mode.secret": ("bỏ phiếu kín", "secret ballot"),
    "mode.roll-call": ("theo danh sách", "roll call"),
    "seconds": ("{n} giây", "{n} s"),
    "practice": ("biểu quyết thử", "practice"),
    "warning": ("Lưu ý", "Warning"),
    "ok": (
        "Tệp dùng được: {items} nội dung, {votes} biểu quyết chuẩn bị sẵn.",
        "The file can be loaded: {items} items, {votes} prepared votes.",
    ),
    "loaded": (
        "Đã mở kỳ họp {sitting} và chuẩn bị {count} biểu quyết.",
        "Opened sitting {sitting} and prepared {count} votes.",
    ),
    "completed": (
        "Kỳ họp {sitting} đang diễn ra: đã chuẩn bị thêm {count} biểu quyết, {kept} biểu quyết"
        " đã có.",
        "Sitting {sitting} is open: prepared {count} more votes, {kept} were there already.",
    ),
    "would_load": (
        "Kiểm tra: tải tệp sẽ mở kỳ họp {sitting} và chuẩn bị {count} biểu quyết; chưa làm gì.",
        "Check: a load would open sitting {sitting} and prepare {count} votes; nothing done.",
    ),
    "would_complete": (
        "Kiểm tra: kỳ họp {sitting} đang diễn ra; tải tệp sẽ chuẩn bị thêm {count} biểu quyết;"
        " chưa làm gì.",
        "Check: sitting {sitting} is open; a load would prepare {count} more votes; nothing done.",
    ),
    "no_token": (
        "Cần mã truy cập (--token hoặc CHAMBER_TOKEN) của thư ký hoặc chủ tọa.",
        "A secretary's or the chair's token is needed (--token or CHAMBER_TOKEN).",
    ),
    "bad_url": (
        "--url phải bắt đầu bằng http:// hoặc https://, không phải {url!r}.",
        "--url must start with http:// or https://, not {url!r}.",
    ),
    "unreachable": (
        "Không kết nối được với máy chủ {url}: {error}",
        "Cannot reach the daemon at {url}: {error}",
    ),
    "refused": ("Máy chủ từ chối: {detail}", "The daemon refused: {detail}"),
}


def say(key: str, lang: Language, **params: Any) -> str:
    vi, en = WORDS[key]
    return (vi if lang is Language.VI else en).format(**params)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="validate a sitting file against a hall file, offline",
        description="validate a sitting file against a hall file, offline",
    )
    check.add_argument("file", type=Path, help="the sitting file (TOML, or .json)")
    check.add_argument("--hall", type=Path, required=True, help="the hall file (TOML)")
    check.add_argument("--lang", choices=("vi", "en"), help="words (default: the hall's)")
    load = sub.add_parser(
        "load",
        help="open the sitting and prepare its votes on a running daemon",
        description="open the sitting and prepare its votes on a running daemon",
    )
    load.add_argument("file", type=Path, help="the sitting file (TOML, or .json)")
    load.add_argument(
        "--url",
        default=os.environ.get("CHAMBER_URL", DEFAULT_URL),
        help=f"the daemon's address (default: $CHAMBER_URL or {DEFAULT_URL})",
    )
    load.add_argument(
        "--token",
        default=os.environ.get("CHAMBER_TOKEN"),
        help="a secretary's or the chair's token (default: $CHAMBER_TOKEN)",
    )
    load.add_argument(
        "--check", action="store_true", help="ask what a load would do, and do nothing"
    )
    load.add_argument("--lang", choices=("vi", "en"), default="vi", help="words (default: vi)")


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return check(args.file, args.hall, args.lang)
    return load(args.file, args.url, args.token, check_only=args.check, lang=Language(args.lang))


def check(file: Path, hall_file: Path, lang_name: str | None) -> int:
    from chamber.controller.config import ConfigError, load_config
    from chamber.controller.sitting_file import SittingFileError, load_sitting

    try:
        hall = load_config(hall_file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    lang = Language(lang_name) if lang_name else hall.hall.language
    try:
        plan = load_sitting(file, hall, lang)
        warnings = plan.check(hall.hall, lang)
    except SittingFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    o = plan.opening
    title = o.title_en if lang is Language.EN and o.title_en else o.title
    print(f"{say('sitting', lang)} {o.sitting_id}: {title}")
    for key, value in (("date", o.date), ("place", o.place)):
        if value:
            print(f"  {say(key, lang)}: {value}")
    for key, name, delegate in (
        ("chair", o.chair, o.chair_id),
        ("secretary", o.secretary, o.secretary_id),
    ):
        if name:
            who = f"{name} ({say('delegate', lang)} {delegate})" if delegate else name
            print(f"  {say(key, lang)}: {who}")
    for item in o.agenda:
        item_title = item.title_en if lang is Language.EN and item.title_en else item.title
        print(f"{say('item', lang)} {item.id}: {item_title}")
        for vote in plan.votes:
            v = vote.command
            if v.item_id != item.id:
                continue
            print(f"  {v.vote_id}: {v.title}")
            print(f"      {_vote_line(v, hall, lang)}")
    for warning in warnings:
        print(f"{say('warning', lang)}: {warning}")
    print(say("ok", lang, items=len(o.agenda), votes=len(plan.votes)))
    return 0


def _vote_line(v: Any, hall: Any, lang: Language) -> str:
    """A prepared vote's kind, rule, answers, mode and time, as the hall will apply them."""
    from chamber.controller.core.i18n import answer_labels
    from chamber.controller.core.kinds import KIND_LABELS, kind_policy

    policies = hall.hall.policies
    policy = kind_policy(v.vote_kind, policies)
    rule = v.rule or policy.rule
    options = v.choices or answer_labels(lang, v.answers or policy.answers)
    mode = (v.mode or policy.mode or policies.vote.mode).value
    duration_s = v.duration_s if v.duration_s is not None else policies.vote.duration_s
    if duration_s == UNTIMED:
        duration = say("untimed", lang)
    else:
        duration = say("seconds", lang, n=f"{duration_s:g}")
    parts = [KIND_LABELS[lang][v.vote_kind], rule, " / ".join(options), say(f"mode.{mode}", lang)]
    parts.append(duration)
    if v.practice:
        parts.append(say("practice", lang))
    return " · ".join(parts)


def load(file: Path, url: str, token: str | None, *, check_only: bool, lang: Language) -> int:
    import httpx

    from chamber.controller.sitting_file import (
        MAX_SITTING_FILE_BYTES,
        SittingFileError,
        format_of,
        read_sitting_bytes,
    )

    if not token:
        print(f"error: {say('no_token', lang)}", file=sys.stderr)
        return 2
    if not url.startswith(("http://", "https://")):
        print(f"error: {say('bad_url', lang, url=url)}", file=sys.stderr)
        return 2
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_SITTING_FILE_BYTES + 1)
        # Syntax and encoding are checked here, with the line; the keys by the daemon.
        read_sitting_bytes(raw, format_of(file), str(file))
    except OSError as exc:
        print(f"error: {file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except SittingFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    body = {
        "text": raw.decode("utf-8").removeprefix("\ufeff"),
        "format": format_of(file),
        "name": file.name,
        "check": check_only,
    }
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang.value}
    try:
        response = httpx.post(
            url.rstrip("/") + "/api/sitting/load", json=body, headers=headers, timeout=TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        print(f"error: {say('unreachable', lang, url=url, error=exc)}", file=sys.stderr)
        return 1
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.is_error or not isinstance(answer, dict):
        detail = answer.get("detail") if isinstance(answer, dict) else None
        text = detail or f"{response.status_code} {response.text[:300]}"
        print(f"error: {say('refused', lang, detail=text)}", file=sys.stderr)
        return 1
    sitting = answer.get("sitting_id", "")
    count = len(answer.get("prepared") or [])
    kept = len(answer.get("kept") or [])
    if check_only:
        key = "would_load" if answer.get("opens") else "would_complete"
    else:
        key = "loaded" if answer.get("opens") else "completed"
    for warning in answer.get("warnings") or []:
        print(f"{say('warning', lang)}: {warning}")
    print(say(key, lang, sitting=sitting, count=count, kept=kept))
    return 0
