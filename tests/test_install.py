"""`chamber install`, `chamber uninstall` and `chamber bundle` (controller/install.py, ...).

Everything is installed into a scratch system root, never into this machine: a directory
seeded the way a fresh Debian root has them with this machine's account files (/etc/passwd,
group, shadow, gshadow) and its systemd units (/usr/lib/systemd/system, so that `systemd-analyze
verify --root` finds the targets the unit names). The install comes from an offline bundle
built once for the module with `chamber bundle --no-debs` (the wheelhouse: the project's wheel
and every dependency's), so that the install itself uses no network; `--no-apt` leaves the
Debian part out. The .deb half of a bundle is not built here (it downloads from Debian's
mirrors): only the list of packages it would download is checked, from apt's local cache.

* The tree: the account (a system uid, its own group, in dialout), the hall file (0640
  root:chamber) from the example, the data directory (0750 chamber:chamber), the venv with a
  working `chamber`, the unit, which `systemd-analyze verify --root` accepts without a word.
* A second install changes no file and says so; a hall file already there is never replaced.
* The daemon started as the unit starts it (its ExecStart line, its User, Group and
  SupplementaryGroups, `$NOTIFY_SOCKET` and `$WATCHDOG_USEC`), from the installed venv, with
  the unit's paths taken inside the scratch root, and with the API (`--port`) and the broker
  (the hall file's `[mqtt]`) on free loopback ports so that runs side by side never clash: it
  notifies readiness (the first message on the socket is the daemon's own, not its broker's:
  Debian's mosquitto speaks sd_notify too) and feeds the watchdog;
  each log line on its stderr (a pipe, as journald's is) is one JSON object; its embedded broker
  ends with it, on SIGTERM (the daemon stops it) and after SIGKILL (the kernel's parent-death
  signal). systemd is not PID 1 here: the sandboxing is checked by `verify` alone.
* A bundle with a changed, missing or added file, or built for another Python, is refused
  before anything is changed.
* Uninstall removes the unit and the venv and keeps the hall file and the data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chamber.controller.bundle import (
    SUMS,
    BundleError,
    needed_debs,
    sha256,
    verify_bundle,
)
from chamber.controller.install import present_packages
from chamber.drivers.mosquitto import free_port
from tests.drivers.test_mosquitto_owned import ended
from tests.test_startup import READY_TIMEOUT, ROOT

VERIFY = shutil.which("systemd-analyze")
APT_CACHE = shutil.which("apt-cache")
AS_ROOT = os.geteuid() == 0
pytestmark = [
    pytest.mark.skipif(not AS_ROOT, reason="installing needs root (useradd, chown)"),
    pytest.mark.timeout(900),
    pytest.mark.slow,
]


def chamber(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chamber.controller.cli", *args, "--lang", "en"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def open_dir(prefix: str) -> Path:
    """A directory outside pytest's 0700 tree, which the unit's account may traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def seeded_root(base: Path) -> Path:
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        shutil.copy2(f"/etc/{name}", root / "etc" / name)
    (root / "usr" / "lib" / "systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    return root


def entries(path: Path) -> dict[str, list[str]]:
    lines = path.read_text("utf-8").splitlines()
    return {line.split(":")[0]: line.split(":") for line in lines if line}


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every file and directory under `root`: mode, owner, group and content digest."""
    out: dict[str, tuple[int, int, int, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path)] = (0, 0, 0, os.readlink(path))
            continue
        st = path.stat()
        digest = sha256(path) if path.is_file() else ""
        out[str(path)] = (st.st_mode, st.st_uid, st.st_gid, digest)
    return out


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    base = open_dir("chamber-install-test-")
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def bundle(workspace: Path) -> Path:
    out = workspace / "bundle"
    done = chamber("bundle", str(out), "--no-debs")
    assert done.returncode == 0, done.stderr
    assert "Built the offline installer" in done.stdout
    return out


@pytest.fixture(scope="module")
def installed(workspace: Path, bundle: Path) -> tuple[Path, str]:
    root = seeded_root(workspace)
    done = chamber("install", "--root", str(root), "--no-apt", "--from", str(bundle))
    assert done.returncode == 0, done.stderr
    return root, done.stdout


def test_install_makes_the_account_the_files_the_venv_and_the_unit(
    installed: tuple[Path, str],
) -> None:
    root, said = installed
    assert "Added the system account chamber" in said
    user = entries(root / "etc/passwd")["chamber"]
    groups = entries(root / "etc/group")
    assert int(user[2]) < 1000  # a system account
    assert user[5:] == ["/var/lib/chamber", "/usr/sbin/nologin"]
    assert groups["chamber"][2] == user[3]
    assert "chamber" in groups["dialout"][3].split(",")
    assert entries(root / "etc/shadow")["chamber"][1].startswith("!")  # no password login
    uid, gid = int(user[2]), int(user[3])
    assert entries(Path("/etc/passwd")).get("chamber") is None  # this machine is untouched

    def owned(path: Path) -> tuple[int, int, int]:
        st = path.stat()
        return st.st_mode & 0o7777, st.st_uid, st.st_gid

    assert owned(root / "etc/chamber") == (0o750, 0, gid)
    assert owned(root / "etc/chamber/hall.toml") == (0o640, 0, gid)
    assert (root / "etc/chamber/hall.toml").read_bytes() == (
        ROOT / "examples/vn-council.toml"
    ).read_bytes()
    assert owned(root / "var/lib/chamber") == (0o750, uid, gid)
    assert list((root / "var/lib/chamber").iterdir()) == []

    venv = root / "opt/chamber/venv"
    assert not venv.resolve().is_relative_to(ROOT)
    helped = subprocess.run(
        [str(venv / "bin/chamber"), "--help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0, helped.stderr
    assert "install" in helped.stdout
    imported = subprocess.run(
        [str(venv / "bin/python"), "-c", "import chamber.controller.cli as c; print(c.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert imported.stdout.startswith(str(venv))  # the wheel's copy, not the source tree

    unit = (root / "etc/systemd/system/chamber.service").read_text("utf-8")
    assert (
        "ExecStart=/opt/chamber/venv/bin/chamber run --config /etc/chamber/hall.toml"
        " --data /var/lib/chamber\n" in unit
    )
    assert "User=chamber\nGroup=chamber\nSupplementaryGroups=dialout\n" in unit
    # The serial lines of the example hall, and nothing else.
    allowed = [line for line in unit.splitlines() if line.startswith("DeviceAllow=")]
    assert allowed == [f"DeviceAllow=/dev/ttyUSB{n} rw" for n in range(4)]
    assert "systemctl was not called" in said


@pytest.mark.skipif(VERIFY is None, reason="systemd-analyze is not installed")
def test_the_installed_unit_passes_systemd_analyze_verify(installed: tuple[Path, str]) -> None:
    root, _ = installed
    assert VERIFY is not None
    done = subprocess.run(
        [VERIFY, "verify", f"--root={root}", "/etc/systemd/system/chamber.service"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).strip() == ""
    # The check can fail: the same unit naming a program the root lacks is refused.
    venv = root / "opt/chamber/venv"
    hidden = venv.with_name("venv.hidden")
    venv.rename(hidden)
    try:
        missing = subprocess.run(
            [VERIFY, "verify", f"--root={root}", "/etc/systemd/system/chamber.service"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        hidden.rename(venv)
    assert "/opt/chamber/venv/bin/chamber is not executable" in missing.stdout + missing.stderr


def test_a_second_install_changes_nothing_and_says_so(
    installed: tuple[Path, str], bundle: Path
) -> None:
    root, _ = installed
    before = snapshot(root)
    done = chamber("install", "--root", str(root), "--no-apt", "--from", str(bundle))
    assert done.returncode == 0, done.stderr
    assert "Already installed: nothing changed." in done.stdout
    assert "Kept the hall file already at" in done.stdout
    assert snapshot(root) == before


def test_a_hall_file_already_there_is_never_replaced(
    installed: tuple[Path, str], bundle: Path
) -> None:
    root, _ = installed
    hall = root / "etc/chamber/hall.toml"
    original = hall.read_bytes()
    mine = original.replace(b'device = "/dev/ttyUSB3"', b'device = "/dev/ttyS0"')
    assert mine != original
    hall.write_bytes(mine)
    try:
        done = chamber("install", "--root", str(root), "--no-apt", "--from", str(bundle))
        assert done.returncode == 0, done.stderr
        assert hall.read_bytes() == mine
        # The unit follows the hall file's serial lines.
        unit = (root / "etc/systemd/system/chamber.service").read_text("utf-8")
        assert "DeviceAllow=/dev/ttyS0 rw" in unit
        assert "DeviceAllow=/dev/ttyUSB3 rw" not in unit
        assert "Wrote the service unit" in done.stdout
    finally:
        hall.write_bytes(original)
        done = chamber("install", "--root", str(root), "--no-apt", "--from", str(bundle))
        assert done.returncode == 0, done.stderr


def unit_start(root: Path) -> tuple[list[str], int, int, list[int]]:
    """The unit's ExecStart with its absolute paths taken inside `root`, and the numeric uid,
    gid and supplementary groups of its User, Group and SupplementaryGroups in that root."""
    unit = (root / "etc/systemd/system/chamber.service").read_text("utf-8")
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
    argv = [
        str(root / a.lstrip("/")) if a.startswith("/") else a
        for a in shlex.split(keys["ExecStart"])
    ]
    users, groups = entries(root / "etc/passwd"), entries(root / "etc/group")
    uid = int(users[keys["User"]][2])
    gid = int(groups[keys["Group"]][2])
    extra = [int(groups[g][2]) for g in keys["SupplementaryGroups"].split()]
    return argv, uid, gid, extra


def mosquitto_children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
                comm = Path(f"/proc/{name}/comm").read_text().strip()
                if int(fields[1]) == pid and comm == "mosquitto":
                    found.append(int(name))
    return found


@contextlib.contextmanager
def hall_on_a_free_port(root: Path) -> Iterator[None]:
    """The technician's edit for a test: the broker on loopback and a port of its own."""
    hall = root / "etc/chamber/hall.toml"
    original = hall.read_bytes()
    hall.write_bytes(original + f'\n[mqtt]\nbind = "127.0.0.1"\nport = {free_port()}\n'.encode())
    try:
        yield
    finally:
        hall.write_bytes(original)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_the_daemon_started_as_the_unit_starts_it_notifies_and_feeds_the_watchdog(
    installed: tuple[Path, str], stop: signal.Signals
) -> None:
    root, _ = installed
    argv, uid, gid, extra = unit_start(root)
    assert argv[0] == str(root / "opt/chamber/venv/bin/chamber")
    notify_dir = open_dir("chamber-notify-")
    notify = notify_dir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    notify.chmod(0o777)  # the unit's account sends to it
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(sock.fileno(), lambda: messages.put_nowait(sock.recv(4096).decode()))
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG": "C.UTF-8",
        "NOTIFY_SOCKET": str(notify),
        "WATCHDOG_USEC": "400000",
    }
    with hall_on_a_free_port(root):
        process = await asyncio.create_subprocess_exec(
            *argv,
            "--port",
            str(free_port()),
            cwd="/",
            env=environment,
            user=uid,
            group=gid,
            extra_groups=extra,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            # The first message is the daemon's (its broker, started before it, says nothing).
            first = await asyncio.wait_for(messages.get(), READY_TIMEOUT)
            assert first.splitlines()[0] == "READY=1", first
            assert first.splitlines()[1].startswith("STATUS=serving hall hdnd-ninh-binh at "), first
            for _ in range(3):
                assert await asyncio.wait_for(messages.get(), READY_TIMEOUT) == "WATCHDOG=1"
            (broker,) = mosquitto_children(process.pid)
            assert os.stat(f"/proc/{broker}").st_uid == uid  # the unit's account
            process.send_signal(stop)
            if stop is signal.SIGTERM:
                while (m := await asyncio.wait_for(messages.get(), READY_TIMEOUT)) == "WATCHDOG=1":
                    pass
                assert m == "STOPPING=1\nSTATUS=stopping"
                assert await asyncio.wait_for(process.wait(), READY_TIMEOUT) == 0
            else:
                assert await asyncio.wait_for(process.wait(), READY_TIMEOUT) == -signal.SIGKILL
            await asyncio.wait_for(ended(broker), READY_TIMEOUT)
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()
            shutil.rmtree(notify_dir, ignore_errors=True)
            if process.returncode is None:
                process.kill()
                await process.wait()
            assert process.stderr is not None
            logged = (await process.stderr.read()).decode()
    lines = logged.splitlines()
    assert any("broker" in json.loads(line)["msg"] for line in lines)
    for line in lines:
        record = json.loads(line)  # one JSON object a line, as journald keeps them
        assert isinstance(record, dict)
        assert {"ts", "level", "logger", "msg"} <= record.keys()
    data = root / "var/lib/chamber"
    assert (data / "hdnd-ninh-binh.journal").is_file()
    for path in data.rglob("*"):
        assert path.stat().st_uid == uid, path  # everything it made is the account's


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def copy_of(bundle: Path, base: Path) -> Path:
    copy = base / "bundle-copy"
    shutil.copytree(bundle, copy)
    return copy


def test_a_changed_bundle_is_refused_before_anything_is_done(bundle: Path, tmp_path: Path) -> None:
    assert verify_bundle(bundle).wheel.is_file()
    copy = copy_of(bundle, tmp_path)
    wheel = sorted((copy / "wheels").glob("*.whl"))[-1]
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    root = seeded_root(tmp_path)
    before = snapshot(root)
    done = chamber("install", "--root", str(root), "--no-apt", "--from", str(copy))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: wheels/{wheel.name} does not match its SHA-256 in {SUMS}: refused"
    )
    assert snapshot(root) == before  # not even the account


def test_a_bundle_with_a_file_missing_or_added_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = copy_of(bundle, tmp_path)
    extra = copy / "wheels" / "evil-1.0-py3-none-any.whl"
    extra.write_bytes(b"not listed")
    with pytest.raises(BundleError, match=r"evil-1\.0-py3-none-any\.whl is in the bundle but not"):
        verify_bundle(copy)
    extra.unlink()
    verify_bundle(copy)
    manifest = copy / "manifest.json"
    text = manifest.read_text("utf-8")
    this = f"cp{sys.version_info.major}{sys.version_info.minor}"
    other = text.replace(f'"python": "{this}"', '"python": "cp27"')
    assert other != text
    manifest.write_text(other, "utf-8")
    sums = (copy / SUMS).read_text("utf-8")
    (copy / SUMS).write_text(sums.replace(sha256_of(text), sha256(manifest)), "utf-8")
    with pytest.raises(BundleError, match="built for cp27, this Python is cp3"):
        verify_bundle(copy)
    manifest.write_text(text, "utf-8")
    (copy / SUMS).write_text(sums, "utf-8")
    gone = sorted((copy / "wheels").glob("*.whl"))[0]
    gone.unlink()
    with pytest.raises(BundleError, match=re.escape(f"{gone.name} is in {SUMS} but missing")):
        verify_bundle(copy)


def test_the_bundle_lists_its_files_in_sha256sum_form(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    assert manifest["python"] == f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert manifest["debs"] == []
    wheels = {p.name for p in (bundle / "wheels").glob("*.whl")}
    assert set(manifest["wheels"]) == wheels
    assert manifest["wheel"] in wheels
    # Every dependency is there: pip resolves the project from the wheelhouse alone.
    names = {w.split("-")[0].lower().replace("_", "-") for w in wheels}
    assert {"chamber", "fastapi", "pymodbus", "textual", "cryptography"} <= names
    checked = subprocess.run(
        ["sha256sum", "--check", "--quiet", SUMS], cwd=bundle, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout


@pytest.mark.skipif(APT_CACHE is None, reason="apt-cache is not installed")
def test_the_debian_part_is_mosquitto_and_its_dependencies_less_the_required_ones() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system")
    names = needed_debs()
    assert {"mosquitto", "libmosquitto1", "libcjson1", "python3-venv", "python3.11-venv"} <= set(
        names
    )
    assert not {"dpkg", "base-files", "libc-bin"} & set(names)  # priority required
    assert not {"mosquitto-clients", "socat", "chromium"} & set(names)  # the tests' only
    # This machine has mosquitto and python3-venv: every package of the list is here,
    # installed or provided by another (sysvinit-utils provides lsb-base), so an install
    # from a bundle would dpkg -i none of them.
    present = present_packages()
    assert "lsb-base" in names
    assert set(names) <= present


def rebuilt(wheel: Path, out: Path, marker: str) -> Path:
    """`wheel` with one line added to a module, its RECORD entry updated: another build of
    the same version, as a rebuilt tree gives."""
    target = out / wheel.name
    module = "chamber/controller/__init__.py"
    with zipfile.ZipFile(wheel) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        (record,) = [n for n in old.namelist() if n.endswith(".dist-info/RECORD")]
        body = old.read(module) + f"\n{marker}\n".encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        lines = [
            f"{module},sha256={digest},{len(body)}" if line.startswith(module + ",") else line
            for line in old.read(record).decode().splitlines()
        ]
        for item in old.infolist():
            if item.filename == module:
                new.writestr(item, body)
            elif item.filename == record:
                new.writestr(item, "\n".join(lines) + "\n")
            else:
                new.writestr(item, old.read(item))
    return target


def test_another_build_of_the_wheel_replaces_the_installed_one(
    installed: tuple[Path, str], bundle: Path, tmp_path: Path
) -> None:
    root, _ = installed
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    wheel = rebuilt(bundle / "wheels" / manifest["wheel"], tmp_path, "REBUILT = True")
    args = ["install", "--root", str(root), "--no-apt", "--from", str(bundle)]
    done = chamber(*args, "--wheel", str(wheel))
    assert done.returncode == 0, done.stderr
    assert "Installed chamber 0.1.0 into" in done.stdout
    (module,) = (root / "opt/chamber/venv/lib").glob(
        "python3*/site-packages/chamber/controller/__init__.py"
    )
    assert module.read_text("utf-8").endswith("REBUILT = True\n")
    again = chamber(*args, "--wheel", str(wheel))
    assert "Already installed: nothing changed." in again.stdout
    back = chamber(*args)  # the bundle's own wheel again
    assert back.returncode == 0, back.stderr
    assert "REBUILT" not in module.read_text("utf-8")


def test_uninstall_removes_the_unit_and_the_venv_and_keeps_the_data(
    installed: tuple[Path, str],
) -> None:
    root, _ = installed
    hall = (root / "etc/chamber/hall.toml").read_bytes()
    data = snapshot(root / "var/lib/chamber")
    done = chamber("uninstall", "--root", str(root))
    assert done.returncode == 0, done.stderr
    assert not (root / "etc/systemd/system/chamber.service").exists()
    assert not (root / "opt/chamber").exists()
    assert (root / "etc/chamber/hall.toml").read_bytes() == hall
    assert snapshot(root / "var/lib/chamber") == data
    assert (root / "var/lib/chamber").is_dir()
    assert "chamber" in entries(root / "etc/passwd")
    assert "Kept:" in done.stdout
    again = chamber("uninstall", "--root", str(root))
    assert again.returncode == 0
    assert "Nothing to remove." in again.stdout


def test_debian_packages_go_only_into_the_running_system(tmp_path: Path) -> None:
    root = seeded_root(tmp_path)
    done = chamber("install", "--root", str(root))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: With --root, give --no-apt (Debian packages go only into the running system)."
    )
    assert not (root / "etc/chamber").exists()


def test_a_bad_hall_file_is_refused_with_one_line_and_not_put_in_place(tmp_path: Path) -> None:
    root = seeded_root(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('[hall]\nid = "x"\nseats = "many"\n', "utf-8")
    done = chamber("install", "--root", str(root), "--no-apt", "--hall", str(bad))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: ")
    assert "Traceback" not in done.stderr
    assert not (root / "etc/chamber/hall.toml").exists()
    assert list((root / "etc/chamber").iterdir()) == []  # nothing staged is left behind
