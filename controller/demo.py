"""`chamber demo`: the whole hall on one machine, for a newcomer and for CI.

- `chamber demo` (what `make demo` runs): the 50-seat Vietnamese council on the real
  transports (keypads on RTU lines through pty pairs, microphones on serial lines, IP units
  and the display wall over MQTT), the daemon, and the simulated delegates' autopilot. The
  sitting and its agenda are opened at start, so the chair can go straight to a new vote.
  It prints the wall's address and the tokens, then runs the operator console in the
  foreground, already connected; when stdout is no terminal it runs until SIGINT/SIGTERM.
- `chamber demo --headless --seats N --votes K --report FILE`: a scripted sitting end to end
  through the same transports (attendance and quorum, K votes under different rules and
  modes, floor requests, the chair's priority key), checked against the simulator's ground
  truth. It writes a JSON report and exits non-zero on any mismatch.
- `chamber demo --script`: the scripted sitting through the meeting core alone, printed.

Everything started here is stopped on the way out: no line, broker or unit outlives it.
This module is a front end: it never changes what the daemon counts, only compares.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from controller.config import ConfigError, HallConfig, LineKind, load_config
from controller.core.model import AnswerSet, MicClass, VoteMode
from controller.core.rules import Counts, decide, rule_for
from controller.hallgen import HallSpec, generate
from drivers.errors import BrokerError
from simulator.hall import SimulatorError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vn-council.toml"
DEMO_ROOT = Path("var") / "demo"
DEFAULT_PORT = 8700
PORT_TRIES = 100
MIN_SEATS = 3  # a chair and two vice-chairs
MAX_SEATS = 4096
STEP_TIMEOUT_S = 20.0
POLL_S = 0.05

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
        from controller.demo_script import run_script

        run_script(sys.stdout)
        return 0
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
    except (DemoError, ConfigError) as exc:
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
        return given
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = DEMO_ROOT / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return path.resolve()
    raise DemoError(f"no fresh data directory under {DEMO_ROOT}")


def demo_spec(seats: int, seed: int) -> HallSpec:
    """A Vietnamese council of `seats` on every transport the size allows: about half on RTU
    keypad lines with microphone lines beside them, a quarter behind Modbus TCP gateways and a
    quarter on IP units over MQTT."""
    if seats < MIN_SEATS:
        raise DemoError(f"a hall needs at least {MIN_SEATS} seats")
    ip = max(1, seats // 4) if seats >= 4 else 0
    tcp = max(1, seats // 4) if seats >= 6 else 0
    serial = seats - ip - tcp
    return HallSpec(
        hall_id=f"hdnd-demo-{seats}",
        body=f"Hội đồng nhân dân (trình diễn, {seats} đại biểu)",
        short_name="HĐND",
        seats=seats,
        language="vi",
        serial_seats=serial,
        tcp_seats=tcp,
        per_line=min(32, max(1, -(-serial // 2))),
        rule="vn-council",
        seed=seed,
    )


def hall_config(seats: int, seed: int, directory: Path) -> HallConfig:
    """The shipped council for 50 seats; any other size is generated into `directory`."""
    if seats == 50:
        return load_config(EXAMPLE)
    spec = demo_spec(seats, seed)
    path = directory / f"{spec.hall_id}.toml"
    path.write_text(generate(spec), encoding="utf-8")
    return load_config(path)


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


# --- the interactive demo ---------------------------------------------------------------------


def banner(url: str, tokens: Any, data_dir: Path, console: bool) -> str:
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
        "",
        "  Kỳ họp đã khai mạc, các đại biểu đang vào chỗ và tự biểu quyết khi bàn phím mở khóa.",
        "  The sitting is open; the simulated delegates take their seats and vote by themselves",
        "  when their keypads unlock.",
    ]
    if console:
        lines += [
            "  Bàn điều khiển / Console: n biểu quyết mới / new vote, o mở / open, c kết thúc /",
            "  close, k người phát biểu tiếp / next speaker, q thoát / quit.",
        ]
    else:
        lines += [
            f"  Bàn điều khiển / Console: chamber console --url {url} --token <chair token>",
            "  Ctrl-C hoặc SIGTERM để dừng / Ctrl-C or SIGTERM stops.",
        ]
    return "\n".join([*lines, ""])


def _log_to_file(path: Path) -> None:
    """Logs go to a file while the console owns the terminal."""
    from controller.logsetup import JsonFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def interactive(
    *, seed: int, port: int, data_dir: Path | None, out: TextIO = sys.stdout
) -> int:
    from controller.auth import Role
    from controller.hallrig import HallRig
    from controller.logsetup import setup_logging
    from simulator.autopilot import Autopilot

    console = out.isatty() and sys.stdin.isatty()
    directory = fresh_data_dir(data_dir)
    if console:
        _log_to_file(directory / "demo.log")
    else:
        setup_logging("warning")
    config = hall_config(50, seed, directory)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    app: Any = None

    def on_signal() -> None:
        stop.set()
        if app is not None:
            app.exit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    try:
        rig = HallRig(config, directory, wire_time=True, seed=seed, port=free_port(port))
        async with rig, rig.client(Role.CHAIR) as chair:
            await open_sitting(chair)
            async with Autopilot(rig.sim, seed=seed):
                print(banner(rig.url, rig.tokens, directory, console), file=out, flush=True)
                if console and not stop.is_set():
                    from console.client import ApiClient

                    wall = f"{rig.url}/wall/?token={rig.tokens.observer}"
                    notice = (
                        f"Màn hình hội trường / Display wall:\n{wall}\n"
                        "n: biểu quyết mới / new vote, o: mở / open, c: kết thúc / close"
                    )
                    app = _demo_console(ApiClient(rig.url, rig.tokens.chair), notice)
                    await app.run_async()
                else:
                    await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    print("chamber demo: stopped / đã dừng", file=out, flush=True)
    return 0


def _demo_console(client: Any, notice: str) -> Any:
    """The operator console, with q and Ctrl-C to leave the demo, and the wall's address shown
    once it is up (the console covers the terminal the address was printed on)."""
    from textual.binding import Binding

    from console.app import ChamberConsole

    class DemoConsole(ChamberConsole):
        BINDINGS = [  # noqa: RUF012 (Textual's own convention)
            Binding("q", "quit", "Quit"),
            Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        ]

        def on_ready(self) -> None:
            self.notify(notice, title="chamber demo", timeout=30)

    return DemoConsole(client)


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


async def _until(predicate: Callable[[], bool], within: float = STEP_TIMEOUT_S) -> bool:
    """Whether `predicate` came true within `within` seconds, looked at every 50 ms.

    The conditions mix the daemon's state with what units show, and units tell nobody when
    they change: a short poll is the one way to watch both."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def headless(
    seats: int, votes: int, *, seed: int = 1, data_dir: Path | None = None
) -> dict[str, Any]:
    """Run the checked sitting; the report's "match" says whether everything agreed."""
    from controller.auth import Role
    from controller.hallrig import HallRig
    from controller.logsetup import setup_logging
    from simulator.autopilot import Autopilot, Temperament

    setup_logging("error")
    # SIGTERM (a CI runner's stop) ends the run the way Ctrl-C does: the rig's context is left,
    # which stops every line and the broker.
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started = time.monotonic()
    directory = fresh_data_dir(data_dir)
    config = hall_config(seats, seed, directory)
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
        "hall": config.hall_id,
        "seats": seats,
        "seed": seed,
        "transports": _transports(config),
    }
    rig = HallRig(config, directory, wire_time=True, seed=seed)
    async with rig, rig.client(Role.CHAIR) as chair:
        await open_sitting(chair)
        async with Autopilot(rig.sim, seed=seed, temperament=temperament) as pilot:
            session = CheckedSitting(rig, chair, pilot, config)
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


def _transports(config: HallConfig) -> dict[str, int]:
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

    def __init__(self, rig: Any, chair: Any, pilot: Any, config: HallConfig) -> None:
        self.rig = rig
        self.chair = chair
        self.pilot = pilot
        self.config = config
        hall = config.hall
        voting = {d.id for d in hall.delegates if d.voting}
        self.voting_seats = {s.number for s in hall.seats if s.delegate in voting}

    def state(self) -> dict[str, Any]:
        daemon = self.rig.daemon
        if daemon is None:
            raise DemoError("the daemon is not running")
        state: dict[str, Any] = daemon.runtime.hub.snapshot().state
        return state

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    # --- attendance ---------------------------------------------------------------------------

    async def attendance(self) -> dict[str, Any]:
        expected = set(self.pilot.expected_present)
        truth = self.rig.sim.truth

        def seen() -> set[int]:
            return set(self.state()["attendance"]["present_seats"])

        await _until(lambda: truth.present() == expected and seen() == expected)
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
            "rule": plan.rule or self.config.hall.policies.vote.rule,
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
        sim = self.rig.sim
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
        settled = await _until(lambda: not unsettled())
        reason = "" if settled else unsettled()
        await _call(self.chair, f"/api/votes/{vote_id}/close")
        until = self.loop_time()

        def locked() -> bool:
            return all(
                (shown := self.pilot.shown(s)) is None or not shown.ballot for s in electorate
            )

        # The next vote opens only once every unit shows this one closed, as in a hall: a
        # keypad that never showed its keys lock could not tell two votes apart.
        if not await _until(locked, 10.0):
            raise DemoError(f"some keypads still show {vote_id} open after it closed")
        # Every delegate sees the closed keypad now, not at their next glance: a glance that
        # came only after the next vote opened would take it for this one.
        self.pilot.look(self.loop_time())
        results = {r["vote_id"]: r for r in self.state()["results"]}
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
        hall = self.config.hall
        outcome = decide(
            rule_for(plan.rule or hall.policies.vote.rule, hall.policies),
            Counts(
                options=totals,
                abstain_key=3 if plan.answers is AnswerSet.YES_NO_ABSTAIN else None,
                present=len(electorate),
                entitled=len(electorate),
                all_members=hall.body.members,
            ),
            hall.language,
            choices=plan.choices if plan.answers is AnswerSet.CHOICES else None,
        )
        truth = {
            "totals": list(totals),
            "voted": exp.voted,
            "did_not_vote": len(electorate) - exp.voted,
            "adopted": outcome.adopted,
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
        hall = self.config.hall
        present = self.rig.sim.truth.present()
        plain = {s.number for s in hall.seats if s.mic_class is MicClass.DELEGATE and s.has_mic}
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
        sim = self.rig.sim
        for su in self.config.units:
            if su.seat == seat and su.mic is not None:
                return bool(sim.mic_lines[su.mic.line].units[su.mic.address].state.mic_on)
        unit = sim.ip_units.get(seat)
        return None if unit is None else bool(unit.state.mic_on)

    async def _floor(self, checks: Checks) -> None:
        from simulator.autopilot import press_chair_priority

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
            self.rig.sim.mic_request(seat)
            await _until(lambda seat=seat: seat in waiting())  # type: ignore[misc]
        checks.add("requests-queued-in-order", waiting() == speakers, waiting=waiting())
        checks.add(
            "rings-show-requests",
            await _until(lambda: all(self.pilot.floor_busy(s) for s in speakers), 5.0),
        )

        await _call(self.chair, "/api/floor/next", {})
        first = speakers[0]
        checks.add("next-gives-floor", await _until(lambda: live() == [first], 5.0), live=live())
        checks.add("unit-mic-on", await _until(lambda: self._mic_on(first) is True, 5.0))

        chair = next((s.number for s in self.config.hall.seats if s.mic_class is MicClass.CHAIR), 1)
        serial_chair = any(su.seat == chair and su.mic is not None for su in self.config.units)

        async def priority(held: bool) -> None:
            if serial_chair:
                press_chair_priority(self.rig.sim, chair, held)
            else:
                await _call(self.chair, "/api/floor/priority", {"held": held})

        def muted() -> bool:
            return all(t["muted"] for t in floor()["live"] if t["seat"] == first)

        await priority(True)
        checks.add(
            "priority-mutes-delegates",
            await _until(lambda: floor()["priority"]["active"] and muted(), 5.0),
            priority=floor()["priority"],
        )
        await priority(False)
        checks.add(
            "priority-released",
            await _until(lambda: not floor()["priority"]["active"] and not muted(), 5.0),
            priority=floor()["priority"],
        )

        await _call(self.chair, "/api/floor/next", {})
        second = speakers[1]
        checks.add(
            "second-speaker",
            await _until(lambda: sorted(live()) == sorted([first, second]), 5.0),
            live=live(),
        )
        await _call(self.chair, "/api/floor/revoke", {"seat": first})
        checks.add(
            "revoke-ends-turn",
            await _until(lambda: live() == [second] and self._mic_on(first) is False, 5.0),
            live=live(),
        )
        checks.add("waiting-left", waiting() == speakers[2:], waiting=waiting())
