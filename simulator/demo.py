"""`chamber demo`: the whole hall on one machine, for a newcomer and for CI.

- `chamber demo` (what `make demo` runs): the 50-seat Vietnamese council on the real
  transports (keypads on RTU lines through pty pairs, microphones on serial lines, IP units
  and the display wall over MQTT), the daemon, and the simulated delegates' autopilot. The
  sitting is loaded at start from the sitting file prepared for that hall
  (examples/vn-council-sitting.toml: its agenda and its votes), so the chair can open its
  votes in order (F5) or go straight to a new one.
  It prints the wall's address and the tokens, then runs the operator console in the
  foreground, already connected; when stdout is no terminal it runs until SIGINT/SIGTERM.
- `chamber demo --headless --seats N --votes K --report FILE`: a scripted sitting end to end
  through the same transports (attendance and quorum, K votes under different rules and
  modes, floor requests, the chair's priority key), checked against the simulator's ground
  truth and, for "adopted", against the hall's rule applied by this module's own arithmetic.
  It writes a JSON report and exits non-zero on any mismatch.
- `chamber demo --script`: the scripted sitting through the meeting core alone, printed.

This module is the simulator's side of the demo: the simulated hall and its delegates run in
this process; the daemon (`chamber run`) and the console (`chamber console`) each run in a
process of their own, and this one talks to the daemon only over its HTTP API, as any client
does. It imports nothing of the daemon's package but its pure core.

Everything started here is stopped on the way out: no process, line, broker or unit outlives
it. It never changes what the daemon counts, only compares.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

import httpx

from chamber.controller.core.model import AnswerSet, MicClass, VoteMode
from chamber.drivers.errors import BrokerError
from chamber.drivers.mosquitto import die_with_parent
from chamber.drivers.topology import LineKind, Topology, TopologyError, load_topology
from chamber.simulator.autopilot import Autopilot, Temperament, press_chair_priority
from chamber.simulator.cli import config_toml, dumps_toml
from chamber.simulator.hall import SimulatedHall, SimulatorError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vn-council.toml"
# The sitting the demo runs, prepared in advance for that hall: its agenda and votes.
SITTING_FILE = EXAMPLE.with_name("vn-council-sitting.toml")
DEMO_ROOT = Path("var") / "demo"
DEFAULT_PORT = 8700
PORT_TRIES = 100
MIN_SEATS = 3  # a chair and two vice-chairs
MAX_SEATS = 4096
STEP_TIMEOUT_S = 20.0
POLL_S = 0.05
# The daemon replays its journal and starts its drivers before it says it is ready.
DAEMON_START_S = 60.0
DAEMON_STOP_S = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# `chamber` itself, run by this interpreter: the daemon and the console are processes of their own.
CHAMBER = (sys.executable, "-m", "chamber.controller.cli")

SITTING_ID = "ky-hop-demo"
SITTING_TITLE = "Kỳ họp thường lệ (trình diễn) / Regular sitting (demo)"
AGENDA = (
    ("1", "Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2027"),
    ("2", "Nghị quyết về dự toán ngân sách địa phương năm 2027"),
    ("3", "Miễn nhiệm, bãi nhiệm và bầu bổ sung chức danh"),
)

log = logging.getLogger(__name__)


class DemoError(RuntimeError):
    """The demo cannot start as asked (a bad option, a hall it cannot build, no free port)."""


# --- options ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--script",
        action="store_true",
        help="run the scripted sitting through the meeting core alone, and print it",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="run a checked sitting end to end through the real transports, and report",
    )
    parser.add_argument("--seats", type=int, default=50, help="seats of the hall (headless)")
    parser.add_argument("--votes", type=int, default=4, help="votes to hold (headless)")
    parser.add_argument("--report", type=Path, help="write the JSON report here (headless)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="the API's port, or the next free one"
    )
    parser.add_argument(
        "--data", type=Path, help="data directory (default: a fresh one under var/demo/)"
    )


def run(args: argparse.Namespace) -> int:
    if args.script:
        # The meeting core alone, in a process of its own (it reads the whole hall file).
        sys.stdout.flush()
        return subprocess.call([sys.executable, "-m", "chamber.controller.demo_script"])
    try:
        if args.headless:
            if not MIN_SEATS <= args.seats <= MAX_SEATS:
                raise DemoError(f"--seats must lie in {MIN_SEATS}..{MAX_SEATS}, not {args.seats}")
            if not 1 <= args.votes <= 100:
                raise DemoError(f"--votes must lie in 1..100, not {args.votes}")
            report = asyncio.run(
                headless(args.seats, args.votes, seed=args.seed, data_dir=args.data)
            )
            text = json.dumps(report, ensure_ascii=False, indent=1)
            if args.report is not None:
                args.report.parent.mkdir(parents=True, exist_ok=True)
                args.report.write_text(text + "\n", encoding="utf-8")
            else:
                print(text)
            return 0 if report["match"] else 1
        if not 1 <= args.port <= 65535:
            raise DemoError(f"--port must lie in 1..65535, not {args.port}")
        return asyncio.run(interactive(seed=args.seed, port=args.port, data_dir=args.data))
    except (DemoError, TopologyError) as exc:
        print(f"chamber demo: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("chamber demo: interrupted / đã dừng", file=sys.stderr)
        return 130
    except (SimulatorError, BrokerError, OSError) as exc:
        print(f"chamber demo: the hall could not be started: {exc}", file=sys.stderr)
        return 1


# --- the hall ---------------------------------------------------------------------------------


def fresh_data_dir(given: Path | None) -> Path:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        return given.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = DEMO_ROOT / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return path.resolve()
    raise DemoError(f"no fresh data directory under {DEMO_ROOT}")


def hall_file(seats: int, seed: int, directory: Path) -> Path:
    """The shipped council for 50 seats; any other size is generated into `directory` by
    `chamber config generate --demo-seats` (a mix of every transport)."""
    if seats == 50:
        return EXAMPLE
    path = directory / f"hdnd-demo-{seats}.toml"
    done = subprocess.run(
        [*CHAMBER, "config", "generate", "--demo-seats", str(seats), "--seed", str(seed),
         "--out", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise DemoError(f"no hall of {seats} seats: {done.stderr.strip() or done.returncode}")
    return path


@dataclass(frozen=True)
class Rule:
    """A majority rule as the hall's law states it (`comparison` `fraction` × base + constant)."""

    comparison: str
    fraction: Fraction
    base: str
    constant: int = 0


# The presets as their sources state them, written here again on purpose: the check of
# "adopted" must not borrow the arithmetic it checks.
LAW_PRESETS: Mapping[str, Rule] = {
    # Luật Tổ chức chính quyền địa phương: more than half of ALL the council's delegates.
    "vn-council": Rule("more-than", Fraction(1, 2), "all-members"),
    # Dismissal of a delegate: at least two thirds of all delegates.
    "vn-two-thirds": Rule("at-least", Fraction(2, 3), "all-members"),
    # Robert's Rules (12th ed., 44:1-44:3): more than half of the votes cast, where blanks and
    # abstentions are not votes cast.
    "roberts-majority": Rule("more-than", Fraction(1, 2), "cast-without-abstentions"),
}
MEMBER_BASES = frozenset({"present", "entitled", "all-members"})


@dataclass(frozen=True)
class DemoHall:
    """What the demo reads of the hall file: its wiring (`drivers.topology`), and for its own
    checks the voting seats, the members and the majority rules, from the TOML as written."""

    path: Path
    topology: Topology
    members: int
    voting_seats: frozenset[int]
    mic_classes: Mapping[int, MicClass]
    default_rule: str
    rules: Mapping[str, Rule]

    @classmethod
    def load(cls, path: Path) -> DemoHall:
        topology = load_topology(path)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        voting = {
            d["id"]
            for d in data.get("delegates", [])
            if d.get("voting", d.get("role", "delegate") != "secretary")
        }
        policies = data.get("policies", {})
        rules = dict(LAW_PRESETS)
        for r in policies.get("rules", []):
            rules[r["key"]] = Rule(
                r["comparison"], Fraction(r.get("fraction", "1/2")), r["base"], r.get("constant", 0)
            )
        return cls(
            path=path,
            topology=topology,
            members=int(data["body"]["members"]),
            voting_seats=frozenset(
                s["number"] for s in data.get("seats", []) if s.get("delegate") in voting
            ),
            mic_classes={u.seat: u.mic_class for u in topology.units},
            default_rule=policies.get("vote", {}).get("rule", "vn-council"),
            rules=rules,
        )

    def has_mic(self, seat: int) -> bool:
        return any(u.seat == seat and (u.mic is not None or u.ip) for u in self.topology.units)


def adopted_by_law(
    rule: Rule,
    totals: tuple[int, ...],
    *,
    abstain_key: int | None,
    choices: bool = False,
    present: int,
    members: int,
) -> bool:
    """Whether `rule` adopts a vote of `totals` (per key, key 1 first), by plain arithmetic.

    The threshold is `fraction` × base + constant: "more than" needs the next whole count above
    it, "at least" the whole count at or above it, unanimity the whole base. Over a base of
    members (present, entitled, all members) whoever did not say yes counts against; a tie
    never passes, and nobody saying yes adopts nothing. Of several options the leading one
    must meet the threshold, alone in the lead."""
    cast = sum(totals)
    abstentions = totals[abstain_key - 1] if abstain_key is not None else 0
    base = {
        "cast": cast,
        "cast-without-abstentions": cast - abstentions,
        "present": present,
        "entitled": present,
        "all-members": members,
    }[rule.base]
    bar = rule.fraction * base + rule.constant
    if rule.comparison == "unanimity":
        need = base
    elif rule.comparison == "more-than":
        need = math.floor(bar) + 1
    else:
        need = math.ceil(bar)
    if choices:
        lead = max(totals, default=0)
        alone = sum(1 for t in totals if t == lead) == 1
        return lead > 0 and alone and lead >= need
    yes = totals[0]
    against = base - yes if rule.base in MEMBER_BASES else totals[1]
    return yes > 0 and yes != against and yes >= need


def free_port(start: int) -> int:
    """`start`, or the next port that nobody listens on."""
    for port in range(start, min(start + PORT_TRIES, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise DemoError(f"no free port in {start}..{start + PORT_TRIES - 1}")


async def _call(client: Any, path: str, body: Mapping[str, Any] | None = None) -> None:
    response = await client.post(path, json=dict(body or {}))
    if response.status_code >= 300:
        raise DemoError(f"POST {path}: {response.status_code} {response.text}")


async def open_sitting(client: Any) -> None:
    agenda = [{"id": i, "title": t} for i, t in AGENDA]
    await _call(
        client,
        "/api/sitting/open",
        {"sitting_id": SITTING_ID, "title": SITTING_TITLE, "agenda": agenda},
    )
    await _call(client, f"/api/agenda/{AGENDA[0][0]}/current")


async def load_sitting(client: Any, path: Path = SITTING_FILE) -> dict[str, Any]:
    """Open the sitting of a prepared sitting file, with its agenda and its votes, through
    the daemon's API (`POST /api/sitting/load`) as the secretary's `chamber sitting load` does;
    returns the daemon's answer."""
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    body = {"text": text, "format": "toml", "name": path.name}
    response = await client.post("/api/sitting/load", json=body)
    if response.status_code >= 300:
        raise DemoError(f"POST /api/sitting/load: {response.status_code} {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


async def _until_async(
    refresh: Callable[[], Awaitable[None]],
    predicate: Callable[[], bool],
    within: float = STEP_TIMEOUT_S,
) -> bool:
    """Whether `predicate` came true within `within` seconds, looked at every 50 ms, each
    look after `refresh()` (which reads the daemon's state again).

    The conditions mix the daemon's state with what units show, and units tell nobody when
    they change: a short poll is the one way to watch both."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        await refresh()
        if predicate():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_S)


# --- the daemon, in a process of its own ------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    chair: str
    secretary: str
    technician: str
    observer: str


@dataclass
class DaemonProcess:
    """`chamber run` on the simulated hall: its address, its tokens and its process."""

    proc: asyncio.subprocess.Process
    url: str
    tokens: Tokens

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )


def _forget_tokens(tokens_path: Path) -> None:
    for path in (tokens_path, tokens_path.with_name(tokens_path.name + ".new")):
        path.unlink(missing_ok=True)


def _read_tokens(path: Path) -> Tokens:
    """The tokens `chamber run` made for a new data directory: without a terminal it writes
    them to `tokens.json.new`, one "ROLE TOKEN" line each."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2:
            found[parts[0]] = parts[1]
    try:
        return Tokens(found["chair"], found["secretary"], found["technician"], found["observer"])
    except KeyError as exc:
        raise DemoError(f"{path}: no {exc.args[0]} token") from None


async def _copy_log(
    stream: asyncio.StreamReader, log_path: Path, ready: asyncio.Future[str]
) -> None:
    """The daemon's log (JSON lines) into `log_path`; `ready` gets the API's address once the
    daemon says it is ready, or an error if it ends before."""
    last = ""
    with log_path.open("ab") as out:
        while line := await stream.readline():
            out.write(line)
            out.flush()
            text = line.decode("utf-8", "replace").strip()
            last = text or last
            if ready.done():
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(text)
                if isinstance(record, dict) and record.get("event") == "ready":
                    ready.set_result(str(record["url"]))
    if not ready.done():
        ready.set_exception(DemoError(f"the daemon stopped while starting: {last[-500:]}"))


@contextlib.asynccontextmanager
async def daemon_process(
    sim: SimulatedHall, directory: Path, port: int, *, training: bool = False
) -> AsyncIterator[DaemonProcess]:
    """`chamber run` on `sim`'s lines and broker, until the block is left (then SIGTERM).
    `training`: the hall file says `[hall] training = true`, and every view says so."""
    config_path = directory / "daemon.toml"
    text = config_toml(sim.daemon_config())
    if training:
        data = tomllib.loads(text)
        data["hall"]["training"] = True
        text = dumps_toml(data)
    # Owner-only: the daemon-side file carries the controller's broker password.
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tokens_path = directory / "tokens.json"
    # Fresh tokens each run, as a new daemon makes them: shown once, in tokens.json.new.
    _forget_tokens(tokens_path)
    proc = await asyncio.create_subprocess_exec(
        *CHAMBER, "run", "--config", str(config_path), "--data", str(directory),
        "--host", "127.0.0.1", "--port", str(port), "--tokens", str(tokens_path),
        "--log-level", "info",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A session of its own: a Ctrl-C at the terminal reaches this process, which stops the
        # daemon in order, not the daemon behind its back. And it ends with this process
        # however that ends (a SIGKILL included): no daemon is orphaned.
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )  # fmt: skip
    assert proc.stderr is not None
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    copier = asyncio.create_task(_copy_log(proc.stderr, directory / "daemon.log", ready))
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), DAEMON_START_S)
        daemon = DaemonProcess(proc, url, _read_tokens(tokens_path.with_name("tokens.json.new")))
        async with daemon.client(daemon.tokens.technician) as tech:
            # What a unit sends reaches the daemon once its drivers are connected (the MQTT
            # driver: subscribed), as the daemon's health says.
            if not await _lines_connected(tech, sim):
                raise DemoError("the daemon's lines did not all connect")
        yield daemon
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), DAEMON_STOP_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(copier, 5.0)
        copier.cancel()


async def _lines_connected(client: httpx.AsyncClient, sim: SimulatedHall) -> bool:
    connected: dict[str, bool] = {}

    async def poll() -> None:
        response = await client.get("/api/health")
        response.raise_for_status()
        connected.clear()
        connected.update({h["line"]: bool(h["connected"]) for h in response.json()["lines"]})

    expected = {ln.id for ln in sim.config.lines if any(
        (u.keypad and u.keypad.line == ln.id) or (u.mic and u.mic.line == ln.id)
        for u in sim.config.units
    )}  # fmt: skip
    deadline = asyncio.get_running_loop().time() + DAEMON_START_S
    while asyncio.get_running_loop().time() < deadline:
        await poll()
        if expected <= set(connected) and all(connected.values()):
            return True
        await asyncio.sleep(POLL_S)
    return False


def _prepare(directory: Path) -> None:
    # The brokers (the simulator's here, the daemon's) keep their files where their account
    # reaches them, in a runtime directory of their own when it cannot reach this one
    # (drivers/mosquitto.py): the data directory stays as private as it was made.
    (directory / "sim").mkdir(exist_ok=True)


@contextlib.asynccontextmanager
async def demo_hall(
    hall: DemoHall, directory: Path, *, seed: int, port: int, training: bool = False
) -> AsyncIterator[tuple[SimulatedHall, DaemonProcess]]:
    """The simulated hall in this process, and the daemon driving it in its own."""
    _prepare(directory)
    sim = SimulatedHall(hall.topology, wire_time=True, seed=seed, runtime_dir=directory / "sim")
    async with sim, daemon_process(sim, directory, port, training=training) as daemon:
        yield sim, daemon


# --- the interactive demo ---------------------------------------------------------------------


def banner(url: str, tokens: Tokens, data_dir: Path, console: bool) -> str:
    wall = f"{url}/wall/?token={tokens.observer}"
    lines = [
        "",
        "chamber — Hội đồng nhân dân tỉnh Ninh Bình, 50 đại biểu (mô phỏng / simulated)",
        "",
        f"  Màn hình hội trường / Display wall:  {wall}",
        f"  API:                                 {url}/api/state",
        f"  Mã chủ tọa / Chair token:            {tokens.chair}",
        f"  Mã kỹ thuật viên / Technician token: {tokens.technician}",
        f"  Dữ liệu / Data:                      {data_dir}",
        f"  Nhật ký / Logs:                      {data_dir / 'demo.log'}, "
        f"{data_dir / 'daemon.log'}",
        "",
        "  Kỳ họp đã khai mạc, các đại biểu đang vào chỗ và tự biểu quyết khi bàn phím mở khóa.",
        "  The sitting is open; the simulated delegates take their seats and vote by themselves",
        "  when their keypads unlock.",
        "  Chương trình và biểu quyết chuẩn bị sẵn / Agenda and prepared votes:",
        f"  {SITTING_FILE}",
    ]
    if console:
        lines += [
            "  F5 biểu quyết chuẩn bị sẵn tiếp theo / the next prepared vote,",
            "  Bàn điều khiển / Console: n biểu quyết mới / new vote, o mở / open, c kết thúc /",
            "  close (y xác nhận / y confirms), k người phát biểu tiếp / next speaker;",
            "  thoát / quit: q, rồi / then y.",
        ]
    else:
        lines += [
            f"  Bàn điều khiển / Console: chamber console --url {url} --token <chair token>",
            "  Ctrl-C hoặc SIGTERM để dừng / Ctrl-C or SIGTERM stops.",
        ]
    return "\n".join([*lines, ""])


def _log_to_file(path: Path) -> None:
    """This process's logs go to a file while the console owns the terminal."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # One line per request would bury the demo's own lines (the truth book reads the state
    # four times a second): the HTTP client says only what goes wrong.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _log_to_stderr(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


async def interactive(
    *, seed: int, port: int, data_dir: Path | None, out: TextIO = sys.stdout
) -> int:
    console = out.isatty() and sys.stdin.isatty()
    directory = fresh_data_dir(data_dir)
    if console:
        _log_to_file(directory / "demo.log")
    else:
        _log_to_stderr(logging.WARNING)
    hall = DemoHall.load(hall_file(50, seed, directory))
    stop = asyncio.Event()
    code = 0
    loop = asyncio.get_running_loop()
    # A closed terminal (SIGHUP) stops the hall in order too, as Ctrl-C and SIGTERM do.
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            demo_hall(hall, directory, seed=seed, port=free_port(port)) as (sim, daemon),
            daemon.client(daemon.tokens.chair) as chair,
        ):
            await load_sitting(chair)
            async with Autopilot(sim, seed=seed) as pilot:
                book = TruthBook(sim, pilot, hall, chair, directory / TRUTH_FILE)
                keeping = asyncio.create_task(book.run(), name="demo-truth-book")
                try:
                    print(banner(daemon.url, daemon.tokens, directory, console), file=out)
                    out.flush()
                    if console and not stop.is_set():
                        code = await _run_console(daemon, stop)
                    else:
                        await stop.wait()
                finally:
                    keeping.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeping
    finally:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    if code:
        # The console failed (its own message is above): the demo did not run as it should.
        print(f"chamber demo: the console ended with code {code}", file=sys.stderr, flush=True)
    print("chamber demo: stopped / đã dừng", file=out, flush=True)
    return 1 if code else 0


def console_env(daemon: DaemonProcess) -> dict[str, str]:
    """The console's token (the chair's), and what its technician's access panel shows: the
    display wall's address and the other tokens, which the daemon keeps only as hashes."""
    tokens = daemon.tokens
    return {
        "CHAMBER_TOKEN": tokens.chair,
        "CHAMBER_WALL_URL": f"{daemon.url}/wall/?token={tokens.observer}",
        "CHAMBER_TECHNICIAN_TOKEN": tokens.technician,
        "CHAMBER_SECRETARY_TOKEN": tokens.secretary,
        "CHAMBER_OBSERVER_TOKEN": tokens.observer,
    }


async def _run_console(daemon: DaemonProcess, stop: asyncio.Event) -> int:
    """The operator console (`chamber console`) in the foreground, in its own process, on
    this terminal; the demo ends when it does (or on a signal, which ends it too). Returns the
    console's exit status when it ended by itself, else 0."""
    proc = await asyncio.create_subprocess_exec(
        *CHAMBER, "console", "--url", daemon.url,
        env={**os.environ, **console_env(daemon)},
        preexec_fn=die_with_parent(),
    )  # fmt: skip
    ended = asyncio.ensure_future(proc.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
        by_itself = proc.returncode
    finally:
        stopped.cancel()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    return by_itself or 0


# --- the simulator's own count, for whoever checks the daemon ---------------------------------

TRUTH_FILE = "truth.json"
# How often the book reads the daemon's state: votes open and close at a chair's pace.
TRUTH_POLL_S = 0.25
_RUNNING = frozenset({"open", "hold"})
_DECIDED = frozenset({"closed", "published"})
# Over with no result that stands: a cancelled vote, and one the chair annulled (hủy kết quả).
_VOID = frozenset({"cancelled", "annulled"})


def mic_on(sim: SimulatedHall, seat: int) -> bool | None:
    """Whether the simulated unit at `seat` has its microphone on (None: it has none)."""
    for su in sim.config.units:
        if su.seat == seat and su.mic is not None:
            return bool(sim.mic_lines[su.mic.line].units[su.mic.address].state.mic_on)
    unit = sim.ip_units.get(seat)
    return None if unit is None else bool(unit.state.mic_on)


class TruthBook:
    """What the simulated units registered, vote by vote, in `DATA/truth.json`: the ground
    truth that the daemon's result (and so the console and the wall) must equal, for whoever
    checks a demo sitting by hand or by test.

    The delegates are simulated, so their units' presses are the truth. While a vote runs the
    book says how many have pressed and whether it has settled (every delegate present has
    made up their mind, no press is still to come, each unit shows the choice its delegate
    made, which the daemon lights only once counted, and the daemon counts as many voters);
    once the vote is closed and every unit shows it locked, its totals, voted, did not vote
    and whether it is adopted by the hall's rule, worked out by this module's own arithmetic
    (`adopted_by_law`). Never a running vote's totals (a secret one's are nobody's to see
    before the close) and never a seat's choice. Also: the seats present, and the seats whose
    microphone is on. It reads the daemon's state over the API only; it changes nothing.

    A vote closed before it settled may differ, as it would in a hall: a press that a unit took
    after the daemon's close and before its keys locked is in the book, not in the result.
    """

    def __init__(
        self, sim: SimulatedHall, pilot: Autopilot, hall: DemoHall, chair: Any, path: Path
    ) -> None:
        self.sim = sim
        self.pilot = pilot
        self.hall = hall
        self.chair = chair
        self.path = path
        self.voting = frozenset(hall.voting_seats)
        # Presses from this loop time on belong to the next vote (None: from the start). Between
        # two votes every unit shows its keys locked and takes no press.
        self._since: float | None = None
        self.votes: dict[str, dict[str, Any]] = {}
        self.present: list[int] = []
        self.mics_on: list[int] = []
        # The daemon's state as last read.
        self.state: dict[str, Any] = {}
        self._updated = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                response = await self.chair.get("/api/state")
                response.raise_for_status()
                self.state = response.json()["state"]
                self.update(self.state, asyncio.get_running_loop().time())
                self.write()
                self._updated.set()
            except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                log.warning("truth book: cannot read the daemon's state: %s", exc)
            # The daemon's state and the units' are read together: a look every so often is
            # the one way to watch both (units tell nobody when they change).
            await asyncio.sleep(TRUTH_POLL_S)

    async def wait_for(self, predicate: Callable[[TruthBook], bool]) -> None:
        """Return once `predicate(self)` holds after an update; bound it with a timeout."""
        while not predicate(self):
            self._updated.clear()
            await self._updated.wait()

    def _locked(self) -> bool:
        return all((shown := self.pilot.shown(s)) is None or not shown.ballot for s in self.voting)

    def _expected(self, vote: Mapping[str, Any], until: float | None = None) -> Any:
        return self.sim.truth.expected(
            since=self._since,
            until=until,
            change_until_close=bool(vote.get("change_until_close", True)),
            keys=len(vote.get("options") or ()),
            seats=self.voting,
        )

    def _settled(self, vote: Mapping[str, Any]) -> bool:
        pilot = self.pilot
        if pilot.pending:
            return False
        since = self._since if self._since is not None else -math.inf
        electorate = self.sim.truth.present() & self.voting
        if any(pilot.decided_at.get(s, -math.inf) < since for s in electorate):
            return False
        exp = self._expected(vote)
        for seat in electorate:
            shown = pilot.shown(seat)
            want = {exp.choices[seat]} if seat in exp.choices else set()
            if shown is None or not shown.ballot or set(shown.lit) != want:
                return False
        voted = int((vote.get("tally") or {}).get("voted", -1))
        return bool(voted == exp.voted)

    def update(self, state: Mapping[str, Any], now: float) -> None:
        """Bring the book up to the daemon's `state`, read at loop time `now`."""
        for vote in state.get("votes") or ():
            vote_id = str(vote.get("vote_id"))
            entry = self.votes.setdefault(
                vote_id, {"vote_id": vote_id, "title": vote.get("title"), "final": False}
            )
            if entry["final"]:
                continue
            status = vote.get("state")
            entry["state"] = status
            # The daemon's times (its clock is this machine's monotonic one, in a fresh demo).
            entry["opened_at"] = vote.get("opened_at")
            entry["closed_at"] = vote.get("closed_at")
            if status in _RUNNING:
                entry["voted"] = self._expected(vote).voted
                entry["settled"] = self._settled(vote)
            elif status in _DECIDED or status in _VOID:
                if not self._locked():
                    continue  # some unit still takes presses for it: not over yet
                if status not in _VOID:
                    self._decided(entry, vote, now)
                entry["final"] = True
                self._since = now
        self.present = sorted(self.sim.truth.present())
        self.mics_on = sorted(s for s in self.sim.truth.present() if mic_on(self.sim, s))

    def _decided(self, entry: dict[str, Any], vote: Mapping[str, Any], until: float) -> None:
        exp = self._expected(vote, until)
        keys = len(vote.get("options") or ())
        totals = tuple(exp.totals.get(k, 0) for k in range(1, keys + 1))
        # The daemon's base: the electorate at the close and those who voted and left since.
        electorate = (self.sim.truth.present() & self.voting) | set(exp.choices)
        rule_key = str(vote.get("rule") or self.hall.default_rule)
        rule = self.hall.rules.get(rule_key)
        answers = vote.get("answers")
        entry.update(
            totals=list(totals),
            voted=exp.voted,
            did_not_vote=len(electorate) - exp.voted,
            rule=rule_key,
            adopted=(
                None
                if rule is None
                else adopted_by_law(
                    rule,
                    totals,
                    abstain_key=3 if answers == AnswerSet.YES_NO_ABSTAIN.value else None,
                    choices=answers == AnswerSet.CHOICES.value,
                    present=len(electorate),
                    members=self.hall.members,
                )
            ),
        )

    def write(self) -> None:
        """The book as JSON, replaced whole (a reader never sees half of it)."""
        data = {
            "present": self.present,
            "mics_on": self.mics_on,
            "votes": [{k: v for k, v in e.items() if k != "final"} for e in self.votes.values()],
        }
        fresh = self.path.with_name(self.path.name + ".new")
        fresh.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(fresh, self.path)


# --- the headless, checked sitting ------------------------------------------------------------


@dataclass(frozen=True)
class VotePlan:
    title: str
    rule: str | None
    mode: VoteMode = VoteMode.OPEN
    answers: AnswerSet = AnswerSet.YES_NO_ABSTAIN
    choices: tuple[str, ...] = ()
    change_until_close: bool = True

    def body(self, vote_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "vote_id": vote_id,
            "title": self.title,
            "answers": self.answers.value,
            "mode": self.mode.value,
            "change_until_close": self.change_until_close,
        }
        if self.rule is not None:
            data["rule"] = self.rule
        if self.choices:
            data["choices"] = list(self.choices)
        return data


# Four in a row already cover every rule preset, a secret ballot, yes/no, a choices vote and
# first-press-locks; further votes cycle on with the other combinations.
VOTE_PLANS: tuple[VotePlan, ...] = (
    VotePlan("Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2027", "vn-council"),
    VotePlan("Miễn nhiệm đại biểu (bỏ phiếu kín)", "vn-two-thirds", VoteMode.SECRET),
    VotePlan(
        "Kiến nghị về thủ tục (biểu quyết một lần)",
        "roberts-majority",
        answers=AnswerSet.YES_NO,
        change_until_close=False,
    ),
    VotePlan(
        "Chọn phương án trụ sở",
        None,
        answers=AnswerSet.CHOICES,
        choices=("Phương án A", "Phương án B", "Phương án C"),
    ),
    VotePlan("Bãi bỏ nghị quyết số 12", "two-thirds-present", change_until_close=False),
    VotePlan("Thông qua dự toán (bỏ phiếu kín)", "vn-council", VoteMode.SECRET, AnswerSet.YES_NO),
    VotePlan("Nghị quyết về quy hoạch", "roberts-majority", VoteMode.SECRET),
)


@dataclass
class Checks:
    """Named checks, each true or false, with what was seen when one failed."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, ok: bool, **detail: Any) -> bool:
        self.items.append({"check": name, "ok": ok, **({} if ok else detail)})
        return ok

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.items)


async def headless(
    seats: int, votes: int, *, seed: int = 1, data_dir: Path | None = None
) -> dict[str, Any]:
    """Run the checked sitting; the report's "match" says whether everything agreed."""
    _log_to_stderr(logging.ERROR)
    # SIGTERM (a CI runner's stop) ends the run the way Ctrl-C does: the hall's context is
    # left, which stops the daemon, every line and the broker.
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started = time.monotonic()
    directory = fresh_data_dir(data_dir)
    hall = DemoHall.load(hall_file(seats, seed, directory))
    temperament = Temperament(
        reaction_s=(0.1, 1.0),
        no_press=0.06,
        change=0.1,
        change_after_s=(0.2, 0.4),
        absent=0.08 if seats >= 10 else 0.0,
        arrive_within_s=0.5,
        floor_every_s=None,  # the floor is scripted below, where its outcome is known
    )
    report: dict[str, Any] = {
        "hall": hall.topology.hall_id,
        "seats": seats,
        "seed": seed,
        "transports": _transports(hall.topology),
    }
    async with (
        demo_hall(hall, directory, seed=seed, port=0) as (sim, daemon),
        daemon.client(daemon.tokens.chair) as chair,
    ):
        await open_sitting(chair)
        async with Autopilot(sim, seed=seed, temperament=temperament) as pilot:
            session = CheckedSitting(sim, chair, pilot, hall)
            report["attendance"] = await session.attendance()
            report["votes"] = [
                await session.vote(f"v{i + 1}", VOTE_PLANS[i % len(VOTE_PLANS)])
                for i in range(votes)
            ]
        report["floor"] = await session.floor()
    report["elapsed_s"] = round(time.monotonic() - started, 2)
    report["match"] = (
        report["attendance"]["match"]
        and all(v["match"] for v in report["votes"])
        and report["floor"]["match"]
    )
    return report


def _transports(config: Topology) -> dict[str, int]:
    kinds = [ln.kind for ln in config.lines]
    return {
        "modbus_rtu_lines": kinds.count(LineKind.MODBUS_RTU),
        "mic_serial_lines": kinds.count(LineKind.MIC_SERIAL),
        "modbus_tcp_gateways": kinds.count(LineKind.MODBUS_TCP),
        "ip_units": sum(1 for su in config.units if su.ip),
    }


class CheckedSitting:
    """One checked sitting: the chair's calls, the daemon's state and the simulator's truth.

    Each step returns its part of the report; nothing here raises on a mismatch."""

    def __init__(self, sim: SimulatedHall, chair: Any, pilot: Any, hall: DemoHall) -> None:
        self.sim = sim
        self.chair = chair
        self.pilot = pilot
        self.hall = hall
        self.config = hall.topology
        self.voting_seats = set(hall.voting_seats)
        self._state: dict[str, Any] = {}

    def state(self) -> dict[str, Any]:
        """The daemon's state as last read (`refresh`, and every look of `until`)."""
        return self._state

    async def refresh(self) -> dict[str, Any]:
        """Read the chair's view of the hall from the daemon's API."""
        response = await self.chair.get("/api/state")
        if response.status_code != 200:
            raise DemoError(f"GET /api/state: {response.status_code} {response.text[:300]}")
        state: dict[str, Any] = response.json()["state"]
        self._state = state
        return state

    async def until(self, predicate: Callable[[], bool], within: float = STEP_TIMEOUT_S) -> bool:
        """`_until`, with the daemon's state read again before each look."""

        async def fresh() -> None:
            await self.refresh()

        return await _until_async(fresh, predicate, within)

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    # --- attendance ---------------------------------------------------------------------------

    async def attendance(self) -> dict[str, Any]:
        expected = set(self.pilot.expected_present)
        truth = self.sim.truth

        def seen() -> set[int]:
            return set(self.state()["attendance"]["present_seats"])

        await self.until(lambda: truth.present() == expected and seen() == expected)
        quorum = self.state()["quorum"]
        daemon_present = sorted(seen())
        truth_present = sorted(truth.present())
        match = daemon_present == truth_present == sorted(expected) and bool(quorum["quorate"])
        print(
            f"attendance: {len(daemon_present)} present of {len(self.voting_seats)}, "
            f"quorum {quorum['present']}/{quorum['required']}: {'ok' if match else 'MISMATCH'}",
            flush=True,
        )
        return {
            "truth_present": truth_present,
            "daemon_present": daemon_present,
            "quorum": quorum,
            "match": match,
        }

    # --- one vote -----------------------------------------------------------------------------

    async def vote(self, vote_id: str, plan: VotePlan) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "vote_id": vote_id,
            "title": plan.title,
            "rule": plan.rule or self.hall.default_rule,
            "mode": plan.mode.value,
            "answers": plan.answers.value,
            "change_until_close": plan.change_until_close,
        }
        try:
            result, truth, unsettled = await self._hold_vote(vote_id, plan)
        except (DemoError, TimeoutError) as exc:
            entry.update(error=str(exc), match=False)
            print(f"{vote_id}: ERROR {exc}", flush=True)
            return entry
        daemon = {
            "totals": [t["count"] for t in result["totals"]],
            "voted": result["voted"],
            "did_not_vote": result["did_not_vote"],
            "adopted": result["outcome"]["adopted"],
            "explanation": result["outcome"]["explanation"],
        }
        checks = Checks()
        checks.add("settled", not unsettled, reason=unsettled)
        for name in ("totals", "voted", "did_not_vote", "adopted"):
            checks.add(name, daemon[name] == truth[name], truth=truth[name], daemon=daemon[name])
        daemon_choices = {c["seat"]: c["key"] for c in result["choices"]}
        if plan.mode is VoteMode.SECRET:
            checks.add("no-choice-kept", not daemon_choices, daemon=len(daemon_choices))
        else:
            checks.add("choices", daemon_choices == truth["choices"])
        truth.pop("choices")
        entry.update(
            truth=truth,
            daemon=daemon,
            checks=[c for c in checks.items if not c["ok"]],
            match=checks.ok,
        )
        print(
            f"{vote_id} {entry['rule']:<18} {plan.mode.value:<6} {plan.answers.value:<14} "
            f"truth {truth['totals']} daemon {daemon['totals']} "
            f"{'ok' if checks.ok else 'MISMATCH'}",
            flush=True,
        )
        return entry

    async def _hold_vote(
        self, vote_id: str, plan: VotePlan
    ) -> tuple[dict[str, Any], dict[str, Any], str]:
        sim = self.sim
        await _call(self.chair, "/api/votes", plan.body(vote_id))
        electorate = sim.truth.present() & self.voting_seats
        keys = (
            len(plan.choices)
            if plan.answers is AnswerSet.CHOICES
            else (2 if plan.answers is AnswerSet.YES_NO else 3)
        )
        since = self.loop_time()
        await _call(self.chair, f"/api/votes/{vote_id}/open")

        def expected() -> Any:
            return sim.truth.expected(
                since=since,
                change_until_close=plan.change_until_close,
                keys=keys,
                seats=electorate,
            )

        def unsettled() -> str:
            """What still keeps the vote from closing with everything counted ("" if nothing).

            Every delegate has made up their mind and pressed; every unit confirms exactly the
            choice the truth holds (the daemon lights it only once it has counted it)."""
            if self.pilot.pending:
                return f"{self.pilot.pending} presses still to come"
            undecided = [s for s in electorate if self.pilot.decided_at.get(s, -1.0) < since]
            if undecided:
                return f"seats {sorted(undecided)} never saw their keys unlock"
            exp = expected()
            unconfirmed = []
            for seat in sorted(electorate):
                shown = self.pilot.shown(seat)
                want = {exp.choices[seat]} if seat in exp.choices else set()
                if shown is None or set(shown.lit) != want:
                    unconfirmed.append(seat)
            if unconfirmed:
                return f"seats {unconfirmed} do not show the choice they pressed"
            active = next(v for v in self.state()["votes"] if v["vote_id"] == vote_id)
            if active["tally"]["voted"] != exp.voted:
                return f"the daemon counts {active['tally']['voted']} voters, {exp.voted} pressed"
            return ""

        # Closed even when it does not settle: the comparison below shows what went missing,
        # and the votes after it still run.
        settled = await self.until(lambda: not unsettled())
        reason = "" if settled else unsettled()
        await _call(self.chair, f"/api/votes/{vote_id}/close")
        until = self.loop_time()

        def locked() -> bool:
            return all(
                (shown := self.pilot.shown(s)) is None or not shown.ballot for s in electorate
            )

        # The next vote opens only once every unit shows this one closed, as in a hall: a
        # keypad that never showed its keys lock could not tell two votes apart.
        if not await self.until(locked, 10.0):
            raise DemoError(f"some keypads still show {vote_id} open after it closed")
        # Every delegate sees the closed keypad now, not at their next glance: a glance that
        # came only after the next vote opened would take it for this one.
        self.pilot.look(self.loop_time())
        results = {r["vote_id"]: r for r in (await self.refresh())["results"]}
        if vote_id not in results:
            raise DemoError(f"no result for {vote_id} after it closed")
        exp = sim.truth.expected(
            since=since,
            until=until,
            change_until_close=plan.change_until_close,
            keys=keys,
            seats=electorate,
        )
        totals = tuple(exp.totals.get(k, 0) for k in range(1, keys + 1))
        rule_key = plan.rule or self.hall.default_rule
        rule = self.hall.rules.get(rule_key)
        if rule is None:
            raise DemoError(f"no rule {rule_key!r} in the hall file or the law's presets")
        # "Adopted" from the hall's rule by this module's own arithmetic, not the core's.
        adopted = adopted_by_law(
            rule,
            totals,
            abstain_key=3 if plan.answers is AnswerSet.YES_NO_ABSTAIN else None,
            choices=plan.answers is AnswerSet.CHOICES,
            present=len(electorate),
            members=self.hall.members,
        )
        truth = {
            "totals": list(totals),
            "voted": exp.voted,
            "did_not_vote": len(electorate) - exp.voted,
            "adopted": adopted,
            "choices": dict(exp.choices),
        }
        return results[vote_id], truth, reason

    # --- the floor ----------------------------------------------------------------------------

    async def floor(self) -> dict[str, Any]:
        checks = Checks()
        try:
            await self._floor(checks)
        except (DemoError, TimeoutError) as exc:
            checks.add("floor", False, error=str(exc))
        ok = checks.ok
        print(f"floor: {len(checks.items)} checks: {'ok' if ok else 'MISMATCH'}", flush=True)
        return {"checks": checks.items, "match": ok}

    def _speakers(self) -> list[int]:
        """Delegates (not chair or VIP seats, whose button opens their microphone directly)
        present and with a microphone: a serial one and an IP one first, when there are."""
        present = self.sim.truth.present()
        plain = {
            seat
            for seat, mic_class in self.hall.mic_classes.items()
            if mic_class is MicClass.DELEGATE and self.hall.has_mic(seat)
        }
        candidates = sorted(plain & present)
        serial = [su.seat for su in self.config.units if su.mic is not None]
        ip = [su.seat for su in self.config.units if su.ip]
        picked: list[int] = []
        for group in ([s for s in candidates if s in serial], [s for s in candidates if s in ip]):
            if group:
                picked.append(group[0])
        picked += [s for s in candidates if s not in picked]
        return picked[:3]

    def _mic_on(self, seat: int) -> bool | None:
        sim = self.sim
        for su in self.config.units:
            if su.seat == seat and su.mic is not None:
                return bool(sim.mic_lines[su.mic.line].units[su.mic.address].state.mic_on)
        unit = sim.ip_units.get(seat)
        return None if unit is None else bool(unit.state.mic_on)

    async def _floor(self, checks: Checks) -> None:
        speakers = self._speakers()
        if not checks.add("speakers", len(speakers) >= 2, found=speakers):
            return

        def floor() -> dict[str, Any]:
            data: dict[str, Any] = self.state()["floor"]
            return data

        def waiting() -> list[int]:
            return [w["seat"] for w in floor()["waiting"]["speak"]]

        def live() -> list[int]:
            return [t["seat"] for t in floor()["live"]]

        for seat in speakers:
            self.sim.mic_request(seat)
            await self.until(lambda seat=seat: seat in waiting())  # type: ignore[misc]
        checks.add("requests-queued-in-order", waiting() == speakers, waiting=waiting())
        checks.add(
            "rings-show-requests",
            await self.until(lambda: all(self.pilot.floor_busy(s) for s in speakers), 5.0),
        )

        await _call(self.chair, "/api/floor/next", {})
        first = speakers[0]
        checks.add(
            "next-gives-floor", await self.until(lambda: live() == [first], 5.0), live=live()
        )
        checks.add("unit-mic-on", await self.until(lambda: self._mic_on(first) is True, 5.0))

        chair = next(
            (seat for seat, mic in sorted(self.hall.mic_classes.items()) if mic is MicClass.CHAIR),
            1,
        )
        serial_chair = any(su.seat == chair and su.mic is not None for su in self.config.units)

        async def priority(held: bool) -> None:
            if serial_chair:
                press_chair_priority(self.sim, chair, held)
            else:
                await _call(self.chair, "/api/floor/priority", {"held": held})

        def muted() -> bool:
            return all(t["muted"] for t in floor()["live"] if t["seat"] == first)

        await priority(True)
        checks.add(
            "priority-mutes-delegates",
            await self.until(lambda: floor()["priority"]["active"] and muted(), 5.0),
            priority=floor()["priority"],
        )
        await priority(False)
        checks.add(
            "priority-released",
            await self.until(lambda: not floor()["priority"]["active"] and not muted(), 5.0),
            priority=floor()["priority"],
        )

        # "Next" hands the floor over: the speaker's microphone closes, the next one's opens.
        await _call(self.chair, "/api/floor/next", {})
        second = speakers[1]
        checks.add(
            "next-hands-over",
            await self.until(lambda: live() == [second] and self._mic_on(first) is False, 5.0),
            live=live(),
        )
        speaking = [second]
        if len(speakers) > 2:
            # "Add" opens the next one's microphone beside the one live.
            await _call(self.chair, "/api/floor/add", {})
            third = speakers[2]
            speaking = sorted([second, third])
            checks.add(
                "add-opens-another",
                await self.until(
                    lambda: sorted(live()) == speaking and self._mic_on(third) is True, 5.0
                ),
                live=live(),
            )
        await _call(self.chair, "/api/floor/revoke", {"seat": second})
        rest = [s for s in speaking if s != second]
        checks.add(
            "revoke-ends-turn",
            await self.until(lambda: live() == rest and self._mic_on(second) is False, 5.0),
            live=live(),
        )
        checks.add("waiting-left", waiting() == speakers[3:], waiting=waiting())
