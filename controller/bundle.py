"""`chamber bundle OUT`: an offline installer for a hall PC with no network.

Built on a connected Debian 12 machine with the hall's Python, it holds:

- `wheels/`: the project's wheel and a wheel of every dependency for this Python and platform
  (`pip wheel`), so that `chamber install --from OUT` installs with `pip --no-index`;
- `debs/`: the Debian packages a running hall needs (mosquitto, python3-venv) and those of their
  dependencies (`apt-get download`), less those of priority `required` that every Debian
  system has; `chamber install --from` installs with `dpkg -i` only those the PC lacks;
- `manifest.json`: what it holds, the chamber version and the Python it was built for;
- `SHA256SUMS`: the SHA-256 of every other file, in `sha256sum -c` form.

`chamber install --from OUT` checks the sums first (`verify_bundle`) and refuses a bundle with a
file changed, missing or added. `--no-debs` leaves the Debian part out (a PC that has them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chamber.controller.core.model import Language

FORMAT = 1
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
# What a running hall needs from Debian: the embedded broker, and Python's venv module for
# `chamber install`'s venv. Nothing only the tests need.
HALL_DEBS = ("mosquitto", "python3-venv")
# Every Debian system has the packages of this priority.
BASE_PRIORITIES = frozenset({"required"})

# key -> (Vietnamese, English)
WORDS: dict[str, tuple[str, str]] = {
    "built": (
        "Đã tạo bộ cài ngoại tuyến {out}: {wheels} gói Python, {debs} gói Debian.",
        "Built the offline installer {out}: {wheels} Python packages, {debs} Debian packages.",
    ),
    "no_debs": (
        "Không kèm gói Debian (--no-debs): máy của hội trường phải có sẵn mosquitto.",
        "No Debian packages (--no-debs): the hall PC must have mosquitto already.",
    ),
    "not_empty": (
        "{out} đã có và không rỗng: hãy chọn một thư mục mới.",
        "{out} exists and is not empty: name a new directory.",
    ),
}


def say(key: str, lang: Language, **params: Any) -> str:
    vi, en = WORDS[key]
    return (vi if lang is Language.VI else en).format(**params)


class BundleError(Exception):
    """A bundle that cannot be built, or one that must not be used."""


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_tool(argv: Sequence[str], *, cwd: Path | None = None) -> str:
    """Run a tool, its stdout returned; a failure is a BundleError with its last words."""
    try:
        done = subprocess.run(
            list(argv), cwd=cwd, capture_output=True, text=True, check=False, stdin=None
        )
    except OSError as exc:
        raise BundleError(f"{argv[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split()[-60:])
        raise BundleError(f"{' '.join(argv[:3])} exited {done.returncode}: {detail}")
    return done.stdout


# --- the project's wheel ------------------------------------------------------------------


def source_tree() -> Path | None:
    """The project's source tree when this chamber runs from one (an editable install)."""
    here = Path(__file__).resolve().parent.parent
    pyproject = here / "pyproject.toml"
    if pyproject.is_file() and 'name = "chamber"' in pyproject.read_text("utf-8"):
        return here
    return None


def build_wheel(out: Path) -> Path:
    """`pip wheel --no-deps` of the source tree into `out`."""
    tree = source_tree()
    if tree is None:
        raise BundleError("no source tree to build the wheel from: give one with --wheel")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chamber-wheel-") as tmp:
        run_tool([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp, str(tree)])
        (built,) = Path(tmp).glob("chamber-*.whl")
        target = out / built.name
        shutil.move(built, target)
    return target


def wheel_version(wheel: Path) -> str:
    """The version a wheel's file name carries (chamber-0.1.0-py3-none-any.whl)."""
    parts = wheel.name.split("-")
    if len(parts) < 5 or parts[0] != "chamber" or not wheel.name.endswith(".whl"):
        raise BundleError(f"{wheel.name} is not a chamber wheel")
    return parts[1]


def wheel_digest(wheel: Path) -> str:
    """A digest of what a wheel installs: its RECORD (each file's SHA-256) without the RECORD's
    own line. Two builds of the same tree give the same digest, whatever the zip's dates."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            (record,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
            lines = archive.read(record).decode().splitlines()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise BundleError(f"{wheel}: not a readable wheel ({exc})") from None
    kept = sorted(line for line in lines if line and not line.startswith(record + ","))
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()


# --- the Debian part ----------------------------------------------------------------------


def _depends(packages: Iterable[str], *, recurse: bool = False) -> dict[str, list[str]]:
    """Each package's direct dependencies (Depends, Pre-Depends), the first of each set of
    alternatives and the first provider of a virtual package, as apt would choose them."""
    out = run_tool(
        [
            "apt-cache",
            "depends",
            *(["--recurse"] if recurse else []),
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *packages,
        ]
    )
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    skip_alternative = False
    want_provider = False
    for line in out.splitlines():
        if not line.startswith(" "):
            current = found.setdefault(line.strip(), [])
            skip_alternative = want_provider = False
            continue
        text = line.strip()
        if want_provider and current is not None and not text.endswith(":") and ":" not in text:
            current.append(text)
            want_provider = False
            continue
        key, _, name = text.partition(": ")
        if key.lstrip("|") not in ("Depends", "PreDepends") or current is None:
            want_provider = False
            continue
        alternative = key.startswith("|")
        if not skip_alternative:
            if name.startswith("<") and name.endswith(">"):
                want_provider = True  # a virtual package: its first provider follows
            else:
                current.append(name.split(":")[0])
        skip_alternative = alternative
    return found


def needed_debs(roots: Sequence[str] = HALL_DEBS) -> list[str]:
    """`roots` and every package they depend on, as apt would choose them, less those of
    priority `required` (on every Debian system); sorted. `chamber install --from` installs
    only those the PC lacks."""
    graph = _depends(roots, recurse=True)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    priorities = _priorities(sorted(seen))
    return sorted(p for p in seen if p in roots or priorities.get(p) not in BASE_PRIORITIES)


def _priorities(packages: Sequence[str]) -> dict[str, str]:
    out = run_tool(["apt-cache", "show", "--no-all-versions", *packages])
    found: dict[str, str] = {}
    name = ""
    for line in out.splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1].strip()
        elif line.startswith("Priority: ") and name:
            found.setdefault(name, line.split(": ", 1)[1].strip())
    return found


# --- building and checking a bundle -------------------------------------------------------


def build_bundle(out: Path, *, wheel: Path | None, debs: bool) -> dict[str, Any]:
    """Write the bundle into `out` (new or empty); returns its manifest."""
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty")
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if wheel is None:
        project = build_wheel(wheels)
    else:
        project = wheels / wheel.name
        shutil.copyfile(wheel, project)
    version = wheel_version(project)
    run_tool([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), str(project)])
    deb_names: list[str] = []
    if debs:
        deb_dir = out / "debs"
        deb_dir.mkdir()
        run_tool(["apt-get", "download", "-q", *needed_debs()], cwd=deb_dir)
        deb_names = sorted(p.name for p in deb_dir.glob("*.deb"))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "chamber": version,
        "wheel": project.name,
        "python": python_tag(),
        "platform": sysconfig.get_platform(),
        "wheels": sorted(p.name for p in wheels.glob("*.whl")),
        "debs": deb_names,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != SUMS)
    lines = [f"{sha256(p)}  {p.relative_to(out).as_posix()}" for p in files]
    (out / SUMS).write_text("\n".join(lines) + "\n", "utf-8")
    return manifest


@dataclass(frozen=True)
class Bundle:
    root: Path
    wheels: Path
    wheel: Path
    debs: tuple[Path, ...]
    version: str


def verify_bundle(root: Path) -> Bundle:
    """Check every file of the bundle against SHA256SUMS; a BundleError names the first file
    changed, missing or not listed, or a bundle built for another Python."""
    sums_file = root / SUMS
    try:
        listed_text = sums_file.read_text("utf-8")
    except OSError as exc:
        raise BundleError(f"{sums_file}: {exc.strerror or exc}: not a chamber bundle") from None
    listed: dict[str, str] = {}
    for number, line in enumerate(listed_text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name or ".." in Path(name).parts:
            raise BundleError(f"{SUMS} line {number} is not '<sha256>  <file>'")
        listed[name] = digest
    present = {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != SUMS
    }
    for name in sorted(present - set(listed)):
        raise BundleError(f"{name} is in the bundle but not in {SUMS}: refused")
    for name, digest in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            raise BundleError(f"{name} is in {SUMS} but missing from the bundle: refused")
        if sha256(path) != digest:
            raise BundleError(f"{name} does not match its SHA-256 in {SUMS}: refused")
    if MANIFEST not in listed:
        raise BundleError(f"{MANIFEST} is not in {SUMS}: not a chamber bundle")
    try:
        manifest = json.loads((root / MANIFEST).read_text("utf-8"))
        wheel = root / "wheels" / str(manifest["wheel"])
        python = str(manifest["python"])
        debs = tuple(root / "debs" / str(name) for name in manifest["debs"])
        version = str(manifest["chamber"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{MANIFEST}: {exc}") from None
    if python != python_tag():
        raise BundleError(f"the bundle was built for {python}, this Python is {python_tag()}")
    if not wheel.is_file() or any(not d.is_file() for d in debs):
        raise BundleError(f"{MANIFEST} names a file the bundle lacks")
    return Bundle(root, root / "wheels", wheel, debs, version)


# --- the subcommand -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT", help="a new directory for the bundle")
    parser.add_argument(
        "--wheel", type=Path, help="the project's wheel (default: built from the source tree)"
    )
    parser.add_argument(
        "--no-debs", action="store_true", help="leave the Debian packages out (wheels only)"
    )
    parser.add_argument("--lang", choices=("vi", "en"), default="vi", help="words (default: vi)")


def run(args: argparse.Namespace) -> int:
    lang = Language(args.lang)
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        print(f"error: {say('not_empty', lang, out=out)}", file=sys.stderr)
        return 2
    try:
        manifest = build_bundle(out, wheel=args.wheel, debs=not args.no_debs)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.no_debs:
        print(say("no_debs", lang))
    print(say("built", lang, out=out, wheels=len(manifest["wheels"]), debs=len(manifest["debs"])))
    return 0
