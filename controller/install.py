"""`chamber install`: chamber as a system service on the hall's Debian PC.

As root, `chamber install` sets up, each step only when it is not done already:

- the `chamber` system account and group (`useradd --system`), in the `dialout` group that
  owns the serial lines;
- `/etc/chamber/hall.toml` (root:chamber, 0640) from `--hall FILE` or the example hall, never
  overwriting one that is there;
- `/var/lib/chamber` (chamber:chamber, 0750) for the journals, tokens and the broker's files;
- a venv outside the source tree, `/opt/chamber/venv`, with the project's wheel (`--wheel`, the
  bundle's, or built from the source tree with `pip wheel --no-deps`);
- the Debian packages a running hall needs (mosquitto, and python3-venv for the venv), unless
  `--no-apt`;
- `/etc/systemd/system/chamber.service` (`controller.service.unit_file`, with the serial
  devices the hall file names), then `systemctl daemon-reload` and `enable` when systemd runs
  the machine. The Debian mosquitto package's own service is disabled when the hall uses the
  embedded broker, which listens on the same port.

A second run changes nothing and says so. `--root DIR` installs into another system root (a
chroot, or a scratch copy for the suite): the account files are DIR's (`useradd --prefix`), the
unit names the paths as they are seen inside DIR, and systemctl is never called. `--from
BUNDLE` installs from an offline bundle (`chamber bundle`) and nothing else: pip with
`--no-index`, `dpkg -i` of the bundle's packages the PC lacks; a bundle whose sums differ is
refused before anything is changed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chamber.controller.bundle import (
    Bundle,
    BundleError,
    build_wheel,
    verify_bundle,
    wheel_digest,
    wheel_version,
)
from chamber.controller.config import ConfigError, HallConfig, load_config
from chamber.controller.core.model import Language
from chamber.controller.service import UnitSettings, unit_file
from chamber.drivers.topology import TopologyError

ACCOUNT = "chamber"
SERIAL_GROUP = "dialout"
# The example hall, in the source tree and in the wheel (chamber/examples) alike.
EXAMPLE_HALL = Path(__file__).resolve().parent.parent / "examples" / "vn-council.toml"
# The embedded broker, and Python's venv module (Debian ships ensurepip apart) for the venv.
APT_PACKAGES = ("mosquitto", "python3-venv")

# key -> (Vietnamese, English)
WORDS: dict[str, tuple[str, str]] = {
    "user_added": (
        "Đã tạo tài khoản hệ thống {user} (nhóm {user}, thêm vào nhóm {serial}).",
        "Added the system account {user} (group {user}, also in {serial}).",
    ),
    "user_serial": (
        "Đã thêm tài khoản {user} vào nhóm {serial}.",
        "Added the account {user} to the group {serial}.",
    ),
    "config_written": (
        "Đã đặt tệp hội trường {path} (từ {source}).",
        "Put the hall file {path} in place (from {source}).",
    ),
    "config_kept": (
        "Giữ nguyên tệp hội trường đã có {path} (không bao giờ ghi đè).",
        "Kept the hall file already at {path} (never overwritten).",
    ),
    "dir_made": ("Đã tạo thư mục {path} ({mode}, {owner}).", "Made {path} ({mode}, {owner})."),
    "dir_fixed": (
        "Đã sửa quyền thư mục {path} thành {mode}, {owner}.",
        "Set {path} to {mode}, {owner}.",
    ),
    "venv_made": ("Đã tạo môi trường Python {path}.", "Made the Python environment {path}."),
    "wheel_installed": (
        "Đã cài chamber {version} vào {path}.",
        "Installed chamber {version} into {path}.",
    ),
    "debs_installed": ("Đã cài gói Debian: {names}.", "Installed Debian packages: {names}."),
    "unit_written": ("Đã ghi dịch vụ {path}.", "Wrote the service unit {path}."),
    "reloaded": ("systemd đã nạp lại các dịch vụ.", "systemd reloaded its units."),
    "enabled": (
        "Dịch vụ chamber sẽ tự chạy khi máy khởi động.",
        "The chamber service starts at boot.",
    ),
    "mosquitto_disabled": (
        "Đã tắt dịch vụ mosquitto riêng của Debian: chamber tự chạy broker của mình.",
        "Disabled Debian's own mosquitto service: chamber runs its own broker.",
    ),
    "nothing": (
        "Đã cài đặt đầy đủ: không có gì thay đổi.",
        "Already installed: nothing changed.",
    ),
    "start": (
        "Chạy dịch vụ: systemctl start chamber; xem nhật ký: journalctl -u chamber -o cat",
        "Start it: systemctl start chamber; its log: journalctl -u chamber -o cat",
    ),
    "not_booted": (
        "systemd không điều khiển máy này (hoặc --root): không gọi systemctl.",
        "systemd does not run this machine (or --root): systemctl was not called.",
    ),
    "need_root": (
        "Cần quyền root (sudo chamber install).",
        "This needs root (sudo chamber install).",
    ),
    "apt_in_root": (
        "Với --root, hãy dùng --no-apt (gói Debian chỉ cài vào hệ thống đang chạy).",
        "With --root, give --no-apt (Debian packages go only into the running system).",
    ),
}


def say(key: str, lang: Language, **params: Any) -> str:
    vi, en = WORDS[key]
    return (vi if lang is Language.VI else en).format(**params)


class InstallError(Exception):
    """A step that cannot be done; nothing after it is attempted."""


@dataclass(frozen=True)
class Layout:
    """Where everything goes, under `root` (/ for the running system). `target` paths are
    those the unit names: as seen from inside the root."""

    root: Path = Path("/")

    def at(self, target: str) -> Path:
        return self.root / target.lstrip("/")

    etc_target = "/etc/chamber"
    hall_target = "/etc/chamber/hall.toml"
    data_target = "/var/lib/chamber"
    opt_target = "/opt/chamber"
    venv_target = "/opt/chamber/venv"
    unit_target = "/etc/systemd/system/chamber.service"

    @property
    def etc(self) -> Path:
        return self.at(self.etc_target)

    @property
    def hall(self) -> Path:
        return self.at(self.hall_target)

    @property
    def data(self) -> Path:
        return self.at(self.data_target)

    @property
    def opt(self) -> Path:
        return self.at(self.opt_target)

    @property
    def venv(self) -> Path:
        return self.at(self.venv_target)

    @property
    def installed(self) -> Path:
        """What the venv holds: the chamber version and its wheel's digest."""
        return self.opt / "installed.json"

    @property
    def unit(self) -> Path:
        return self.at(self.unit_target)

    @property
    def executable_target(self) -> str:
        return f"{self.venv_target}/bin/chamber"

    @property
    def live(self) -> bool:
        """The running system, under systemd: systemctl may be called."""
        return self.root.resolve() == Path("/") and Path("/run/systemd/system").is_dir()


@dataclass
class Report:
    lang: Language
    done: list[str] = field(default_factory=list)

    def add(self, key: str, **params: Any) -> None:
        line = say(key, self.lang, **params)
        self.done.append(line)
        print(line, flush=True)

    def note(self, key: str, **params: Any) -> None:
        """Something said that changed nothing."""
        print(say(key, self.lang, **params), flush=True)


def tool(argv: Sequence[str]) -> str:
    """Run a system tool; a failure is an InstallError with its own last words."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError as exc:
        raise InstallError(f"{argv[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split()[-60:])
        raise InstallError(f"{' '.join(argv[:3])} exited {done.returncode}: {detail}")
    return done.stdout


# --- the account --------------------------------------------------------------------------


def _entries(path: Path) -> dict[str, list[str]]:
    """name -> fields of a passwd or group file."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InstallError(f"{path}: {exc.strerror or exc}: --root must be a system root") from None
    return {line.split(":")[0]: line.split(":") for line in text.splitlines() if ":" in line}


def _prefix(layout: Layout) -> list[str]:
    return [] if layout.root.resolve() == Path("/") else ["--prefix", str(layout.root)]


def ensure_account(layout: Layout, report: Report) -> tuple[int, int]:
    """The `chamber` system account, in `dialout`; returns its uid and gid in that root."""
    groups = _entries(layout.at("/etc/group"))
    if SERIAL_GROUP not in groups:
        raise InstallError(f"{layout.at('/etc/group')} has no {SERIAL_GROUP} group")
    if ACCOUNT not in _entries(layout.at("/etc/passwd")):
        tool(
            [
                "useradd",
                *_prefix(layout),
                "--system",
                "--user-group",
                "--groups",
                SERIAL_GROUP,
                "--home-dir",
                layout.data_target,
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "chamber hall controller",
                ACCOUNT,
            ]
        )
        report.add("user_added", user=ACCOUNT, serial=SERIAL_GROUP)
    elif ACCOUNT not in _entries(layout.at("/etc/group"))[SERIAL_GROUP][3].split(","):
        tool(["usermod", *_prefix(layout), "--append", "--groups", SERIAL_GROUP, ACCOUNT])
        report.add("user_serial", user=ACCOUNT, serial=SERIAL_GROUP)
    user = _entries(layout.at("/etc/passwd"))[ACCOUNT]
    return int(user[2]), int(user[3])


def _directory(path: Path, mode: int, uid: int, gid: int, owner: str, report: Report) -> None:
    if not path.is_dir():
        path.mkdir(parents=True)
        os.chown(path, uid, gid)
        path.chmod(mode)
        report.add("dir_made", path=path, mode=f"{mode:04o}", owner=owner)
        return
    st = path.stat()
    if (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (mode, uid, gid):
        os.chown(path, uid, gid)
        path.chmod(mode)
        report.add("dir_fixed", path=path, mode=f"{mode:04o}", owner=owner)


# --- the hall file ------------------------------------------------------------------------


def ensure_hall_file(layout: Layout, source: Path | None, gid: int, report: Report) -> HallConfig:
    """The hall file, put in place if there is none (one that is there is never touched);
    returns it, checked."""
    _directory(layout.etc, 0o750, 0, gid, f"root:{ACCOUNT}", report)
    if layout.hall.exists():
        report.note("config_kept", path=layout.hall)
        return _check_hall(layout.hall, str(layout.hall))
    if source is None:
        text = EXAMPLE_HALL.read_bytes()
        shown = EXAMPLE_HALL.name
    else:
        try:
            text = source.read_bytes()
        except OSError as exc:
            raise InstallError(f"{source}: {exc.strerror or exc}") from None
        shown = str(source)
    with tempfile.NamedTemporaryFile(dir=layout.etc, delete=False, suffix=".toml") as tmp:
        tmp.write(text)
    staged = Path(tmp.name)
    try:
        config = _check_hall(staged, shown)
        os.chown(staged, 0, gid)
        staged.chmod(0o640)
        staged.rename(layout.hall)
    finally:
        staged.unlink(missing_ok=True)
    report.add("config_written", path=layout.hall, source=shown)
    return config


def _check_hall(path: Path, shown: str) -> HallConfig:
    try:
        return load_config(path)
    except (ConfigError, TopologyError, ValueError, OSError) as exc:
        raise InstallError(f"{shown}: {' '.join(str(exc).split())[:400]}") from None


def serial_devices(config: HallConfig) -> tuple[str, ...]:
    """The serial lines the hall file names, for the unit's DeviceAllow."""
    return tuple(sorted({line.device for line in config.lines if line.device}))


# --- the venv -----------------------------------------------------------------------------


def ensure_venv(layout: Layout, wheel: Path, bundle: Bundle | None, report: Report) -> None:
    """The venv with `wheel` installed (from the bundle's wheelhouse alone, if one is given)."""
    digest = wheel_digest(wheel)
    version = wheel_version(wheel)
    python = layout.venv / "bin" / "python"
    try:
        current = json.loads(layout.installed.read_text("utf-8"))
    except (OSError, ValueError):
        current = None
    if (
        current == {"version": version, "wheel": digest}
        and (layout.venv / "bin" / "chamber").exists()
    ):
        return
    if not python.exists():
        layout.opt.mkdir(parents=True, exist_ok=True)
        layout.opt.chmod(0o755)
        venv.EnvBuilder(with_pip=True, clear=True).create(layout.venv)
        report.add("venv_made", path=layout.venv)
    index = ["--no-index", "--find-links", str(bundle.wheels)] if bundle else []
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *index]
    if current is not None:  # another build of the same version: pip would keep the old one
        tool([*pip, "--force-reinstall", "--no-deps", str(wheel)])
    tool([*pip, str(wheel)])
    layout.installed.write_text(json.dumps({"version": version, "wheel": digest}) + "\n")
    report.add("wheel_installed", version=version, path=layout.venv)


# --- Debian packages ----------------------------------------------------------------------


def _installed_version(package: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}\t${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = done.stdout.partition("\t")
    return version if done.returncode == 0 and status.endswith(" installed") else None


def present_packages() -> set[str]:
    """The packages installed here, and the names they provide (sysvinit-utils provides
    lsb-base, say): a bundle's .deb of one of these is not installed again."""
    out = tool(["dpkg-query", "-W", "-f", "${Package}\t${Status}\t${Provides}\n"])
    present: set[str] = set()
    for line in out.splitlines():
        name, _, rest = line.partition("\t")
        status, _, provides = rest.partition("\t")
        if status.endswith(" installed"):
            present.add(name)
            present.update(p.split()[0].split(":")[0] for p in provides.split(",") if p.strip())
    return present


def ensure_debs(bundle: Bundle | None, report: Report) -> None:
    if bundle is None:
        missing = [p for p in APT_PACKAGES if _installed_version(p) is None]
        if missing:
            tool(["apt-get", "update", "-qq"])
            env_apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"]
            tool([*env_apt, "--no-install-recommends", *missing])
            report.add("debs_installed", names=", ".join(missing))
        return
    present = present_packages()
    wanted = [deb for deb in bundle.debs if deb.name.split("_")[0] not in present]
    if wanted:
        tool(["env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", *map(str, wanted)])
        report.add("debs_installed", names=", ".join(d.name.split("_")[0] for d in wanted))


# --- the unit -----------------------------------------------------------------------------


def ensure_unit(layout: Layout, config: HallConfig, report: Report) -> None:
    text = unit_file(
        UnitSettings(
            executable=layout.executable_target,
            config=layout.hall_target,
            data=layout.data_target,
            user=ACCOUNT,
            group=ACCOUNT,
            devices=serial_devices(config),
            writable=(str(config.backup.dir),) if config.backup is not None else (),
        )
    )
    changed = False
    if not layout.unit.exists() or layout.unit.read_text("utf-8") != text:
        layout.unit.parent.mkdir(parents=True, exist_ok=True)
        staged = layout.unit.with_suffix(".new")
        staged.write_text(text, "utf-8")
        staged.chmod(0o644)
        staged.rename(layout.unit)
        report.add("unit_written", path=layout.unit)
        changed = True
    if not layout.live:
        return
    if changed:
        tool(["systemctl", "daemon-reload"])
        report.add("reloaded")
    if _systemctl_state("is-enabled", "chamber.service") != "enabled":
        tool(["systemctl", "enable", "chamber.service"])
        report.add("enabled")
    if config.broker.embedded and _systemctl_state("is-enabled", "mosquitto.service") == "enabled":
        tool(["systemctl", "disable", "--now", "mosquitto.service"])
        report.add("mosquitto_disabled")


def _systemctl_state(verb: str, unit: str) -> str:
    done = subprocess.run(["systemctl", verb, unit], capture_output=True, text=True, check=False)
    return done.stdout.strip()


# --- the whole -----------------------------------------------------------------------------


def install(
    layout: Layout,
    *,
    lang: Language,
    hall: Path | None = None,
    wheel: Path | None = None,
    bundle_dir: Path | None = None,
    apt: bool = True,
) -> Report:
    """Every step, in order; each does nothing when its part is in place already."""
    report = Report(lang)
    if os.geteuid() != 0:
        raise InstallError(say("need_root", lang))
    if apt and layout.root.resolve() != Path("/"):
        raise InstallError(say("apt_in_root", lang))
    try:
        bundle = verify_bundle(bundle_dir) if bundle_dir is not None else None
    except BundleError as exc:
        raise InstallError(str(exc)) from None
    uid, gid = ensure_account(layout, report)
    config = ensure_hall_file(layout, hall, gid, report)
    _directory(layout.data, 0o750, uid, gid, f"{ACCOUNT}:{ACCOUNT}", report)
    if apt:
        ensure_debs(bundle, report)
    with tempfile.TemporaryDirectory(prefix="chamber-install-") as tmp:
        try:
            if wheel is None:
                wheel = bundle.wheel if bundle is not None else build_wheel(Path(tmp))
            ensure_venv(layout, wheel, bundle, report)
        except BundleError as exc:
            raise InstallError(str(exc)) from None
    ensure_unit(layout, config, report)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, default=Path("/"), help="install into this system root (default: /)"
    )
    parser.add_argument("--no-apt", action="store_true", help="install no Debian packages")
    parser.add_argument(
        "--hall",
        type=Path,
        help="the hall file to put in place if there is none (default: the example hall)",
    )
    parser.add_argument(
        "--wheel",
        type=Path,
        help="the chamber wheel (default: the bundle's, or built from the source tree)",
    )
    parser.add_argument(
        "--from",
        dest="bundle",
        type=Path,
        metavar="BUNDLE",
        help="install from an offline bundle (chamber bundle) and nothing else",
    )
    parser.add_argument("--lang", choices=("vi", "en"), default="vi", help="words (default: vi)")


def run(args: argparse.Namespace) -> int:
    lang = Language(args.lang)
    layout = Layout(args.root)
    try:
        report = install(
            layout,
            lang=lang,
            hall=args.hall,
            wheel=args.wheel,
            bundle_dir=args.bundle,
            apt=not args.no_apt,
        )
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not report.done:
        print(say("nothing", lang))
    if layout.live:
        print(say("start", lang))
    else:
        print(say("not_booted", lang))
    return 0
