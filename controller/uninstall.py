"""`chamber uninstall`: the service and the installed program go; the hall's data stays.

Removes the service unit (stopped and disabled first when systemd runs the machine) and the
venv in /opt/chamber. It leaves alone, and says so: /etc/chamber (the hall file),
/var/lib/chamber (the journals, the tokens, the broker's secret), the `chamber` account and the
Debian packages. A second run finds nothing to remove and says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from chamber.controller.core.model import Language
from chamber.controller.install import Layout

WORDS: dict[str, tuple[str, str]] = {
    "stopped": (
        "Đã dừng và tắt dịch vụ chamber.",
        "Stopped and disabled the chamber service.",
    ),
    "removed": ("Đã xóa {path}.", "Removed {path}."),
    "nothing": ("Không có gì để gỡ bỏ.", "Nothing to remove."),
    "kept": (
        "Giữ nguyên: {etc} (tệp hội trường), {data} (sổ ghi, mã truy cập), tài khoản chamber"
        " và các gói Debian. Xóa chúng bằng tay nếu thật sự không cần nữa.",
        "Kept: {etc} (the hall file), {data} (the journals, the tokens), the chamber account"
        " and the Debian packages. Remove them by hand if they are truly no longer needed.",
    ),
    "need_root": (
        "Cần quyền root (sudo chamber uninstall).",
        "This needs root (sudo chamber uninstall).",
    ),
}


def say(key: str, lang: Language, **params: Any) -> str:
    vi, en = WORDS[key]
    return (vi if lang is Language.VI else en).format(**params)


def uninstall(layout: Layout, lang: Language) -> list[str]:
    """Remove the unit and the venv; returns what was done, each line said as it is done."""
    done: list[str] = []

    def tell(key: str, **params: Any) -> None:
        line = say(key, lang, **params)
        done.append(line)
        print(line, flush=True)

    if layout.live and layout.unit.exists():
        subprocess.run(
            ["systemctl", "disable", "--now", "chamber.service"], capture_output=True, check=False
        )
        tell("stopped")
    if layout.unit.exists():
        layout.unit.unlink()
        tell("removed", path=layout.unit)
        if layout.live:
            subprocess.run(["systemctl", "daemon-reload"], capture_output=True, check=False)
    if layout.venv.is_dir():
        shutil.rmtree(layout.venv)
        tell("removed", path=layout.venv)
    if layout.installed.exists():
        layout.installed.unlink()
    if layout.opt.is_dir() and not any(layout.opt.iterdir()):
        layout.opt.rmdir()
    return done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, default=Path("/"), help="the system root installed into (default: /)"
    )
    parser.add_argument("--lang", choices=("vi", "en"), default="vi", help="words (default: vi)")


def run(args: argparse.Namespace) -> int:
    lang = Language(args.lang)
    if os.geteuid() != 0:
        print(f"error: {say('need_root', lang)}", file=sys.stderr)
        return 1
    layout = Layout(args.root)
    if not uninstall(layout, lang):
        print(say("nothing", lang))
    print(say("kept", lang, etc=layout.etc, data=layout.data))
    return 0
