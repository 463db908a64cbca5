"""The torture run: a hall on every transport, a daemon that is killed over and over, faults,
a hostile unit, and the books kept against the simulator's ground truth.

`Torture(options)` builds a hall (RTU keypads on pty lines with their microphone lines,
keypads behind a Modbus TCP gateway, IP units on MQTT), runs its own Mosquitto (the hall's
accounts and ACL, plus an auditor account that may read every topic, as the controller's
account may), starts `chamber run` as a child process, and drives a sitting through the API
as the chair: attendance, then seeded votes, open and secret, with delegates pressing at
seeded moments while faults are injected at seeded moments. After each close it accounts for
every press by origin (`ledger`), and after each secret close an attacker reads everything it
can reach. Everything random comes from one `random.Random(seed)`; every wait is on an event
with a bound; delays between actions are part of the scenario and run on the loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from chamber.controller.auth import Role, TokenStore
from chamber.controller.backup import take_backup
from chamber.controller.config import HallConfig, load_config
from chamber.controller.hallgen import HallSpec, generate
from chamber.controller.journal import Journal
from chamber.drivers.mosquitto import (
    CONTROLLER_USER,
    WALL_USER,
    Mosquitto,
    free_port,
    hall_users,
    unit_password,
)
from chamber.protocols import keypad, mqtt
from chamber.simulator.cli import config_toml
from chamber.simulator.delegates import Action, MicScript, Press, PressKind, VoteScript
from chamber.simulator.hall import SimulatedHall
from chamber.simulator.keypads import KeypadGatewaySim
from tests.e2e.hall import SimWatch, lit_as, shown
from tests.torture import ledger
from tests.torture.processes import Daemon, MqttRecorder, StreamRecorder, retained_messages

KEYS = 3  # tán thành / không tán thành / không biểu quyết
WAIT_S = 30.0  # the bound on one wait: a loaded 2-core machine, a daemon just restarted
SETTLE_S = 45.0  # the bound on a vote's count reaching the ground truth after its faults
AUDITOR = "auditor"  # an account that reads every topic: what the controller's account sees
HALL_ID = "hdnd-thu-tai"


@dataclass(frozen=True)
class Options:
    seed: int = 1
    kills: int = 50
    broker_kills: int = 10
    seats: int = 48
    votes: int = 0  # 0: as many as the faults need (about four daemon kills per vote)
    press_window_s: float = 4.0
    max_down_s: float = 2.0
    report: Path | None = None
    keep: Path | None = None  # keep the run's files here instead of deleting them
    debug_broker: bool = False  # the broker logs every packet (for the acknowledgement checks)

    def command(self) -> str:
        parts = [
            "python -m tests.torture",
            f"--seed {self.seed}",
            f"--kills {self.kills}",
            f"--broker-kills {self.broker_kills}",
            f"--seats {self.seats}",
        ]
        if self.votes:
            parts.append(f"--votes {self.votes}")
        return " ".join(parts)


def hall_spec(seats: int, seed: int) -> HallSpec:
    """Half the seats on RTU keypad lines (with microphone lines), a quarter behind a Modbus
    TCP gateway, the rest IP units: every transport in one hall."""
    if seats < 8:
        raise ValueError("a torture hall needs at least 8 seats")
    per_line = max(2, seats // 4)
    serial = per_line * (2 if seats >= 32 else 1)
    tcp = per_line
    return HallSpec(
        hall_id=HALL_ID,
        body="Hội đồng nhân dân tỉnh (phiên thử tải)",
        short_name="HĐND thử tải",
        seats=seats,
        language="vi",
        serial_seats=serial,
        tcp_seats=tcp,
        per_line=per_line,
        columns=10,
        rule="vn-council",
        seed=seed,
    )


def hall_config(seats: int, seed: int, directory: Path) -> HallConfig:
    path = directory / "hall.toml"
    path.write_text(generate(hall_spec(seats, seed)), encoding="utf-8")
    return load_config(path)


@dataclass
class Figures:
    """What the run did and what it found; `to_json` is the report."""

    seed: int
    command: str
    seats: int
    transports: dict[str, int] = field(default_factory=dict)
    votes: int = 0
    secret_votes: int = 0
    kills: int = 0
    broker_kills: int = 0
    reboots: int = 0
    unplugs: int = 0
    hostile: int = 0
    presses: int = 0
    mic_presses: int = 0
    lost: int = 0
    doubled: int = 0
    misattributed: int = 0
    wrong_results: int = 0
    secret_links: int = 0
    unsettled_votes: int = 0
    daemon_ready_s: list[float] = field(default_factory=list)
    broker_recovery_s: list[float] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    ring_clear_s: list[float] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(
            self.lost
            or self.doubled
            or self.misattributed
            or self.wrong_results
            or self.secret_links
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["recovery"] = {
            "daemon_start_to_ready_s": _spread(self.daemon_ready_s),
            "broker_back_to_first_press_s": _spread(self.broker_recovery_s),
            "secret_close_to_rings_clear_s": _spread(self.ring_clear_s),
        }
        data["failed"] = self.failed
        return data

    def summary(self) -> str:
        ready, broker = _spread(self.daemon_ready_s), _spread(self.broker_recovery_s)
        lines = [
            f"seed {self.seed}: {self.seats} seats "
            + ", ".join(f"{k} {v}" for k, v in self.transports.items()),
            f"votes {self.votes} ({self.secret_votes} secret)  kills {self.kills}  "
            f"broker kills {self.broker_kills}  reboots {self.reboots}  unplugs {self.unplugs}  "
            f"hostile {self.hostile}",
            f"presses {self.presses} (mic {self.mic_presses})  lost {self.lost}  "
            f"doubled {self.doubled}  misattributed {self.misattributed}  "
            f"wrong results {self.wrong_results}  secret links {self.secret_links}",
            f"daemon start to ready: median {ready['median']} s, max {ready['max']} s; "
            f"broker back to first press read: median {broker['median']} s, "
            f"max {broker['max']} s",
        ]
        return "\n".join(lines)


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None, "count": 0}
    return {
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
        "count": len(values),
    }


class Torture:
    """One seeded run. Use as `async with Torture(options) as t: figures = await t.run()`."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self._stack = contextlib.AsyncExitStack()
        self.figures = Figures(options.seed, options.command(), options.seats)
        self.windows: list[ledger.VoteWindow] = []
        self.truth: list[ledger.TruthPress] = []
        self.wake = asyncio.Event()
        self.books = ledger.Books()
        self.began = 0.0
        self._vote_index = 0

    # --- set-up -----------------------------------------------------------------------------

    async def __aenter__(self) -> Torture:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        if self.o.keep is not None:
            log = "\n".join(self.daemon.lines) + "\n"
            (self.o.keep / "daemon.log").write_text(log, encoding="utf-8")
            timeline = "\n".join(self.figures.timeline) + "\n"
            (self.o.keep / "timeline.txt").write_text(timeline, encoding="utf-8")

    async def _start(self) -> None:
        self.began = asyncio.get_running_loop().time()
        # A hostile client knocked off the broker leaves a future of aiomqtt's with its error
        # unread: expected here, and not worth a traceback on the console.
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()

        def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if isinstance(context.get("exception"), aiomqtt.MqttError):
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(quiet)
        self._stack.callback(loop.set_exception_handler, previous)
        if self.o.keep is not None:
            base = self.o.keep
            if base.exists():
                shutil.rmtree(base)
            base.mkdir(parents=True)
        else:
            base = Path(tempfile.mkdtemp(prefix="chamber-torture-"))
            self._stack.callback(shutil.rmtree, base, True)
        # The simulator's broker drops to its own account: it must traverse these.
        base.chmod(0o711)
        self.base = base
        self.config = hall_config(self.o.seats, self.o.seed, base)
        self.secret = self.rng.randbytes(32)
        ip_seats = sorted(su.seat for su in self.config.units if su.ip)
        self.topics = mqtt.Topics(self.config.hall_id)
        users = hall_users(self.secret, ip_seats) | {AUDITOR: unit_password(self.secret, AUDITOR)}
        acl = mqtt.render_acl(self.config.hall_id, ip_seats, CONTROLLER_USER, WALL_USER)
        acl = acl.rstrip("\n") + f"\n\nuser {AUDITOR}\ntopic read #\n"
        (base / "sim").mkdir()
        (base / "sim").chmod(0o711)
        self.broker_dir = base / "sim" / "broker"
        self.broker = Mosquitto(self.broker_dir, users, acl, log_denied=self.o.debug_broker)
        await self.broker.start()
        self._stack.push_async_callback(self.broker.stop)
        self.sim = SimulatedHall(
            self.config,
            wire_time=False,
            seed=self.rng.randrange(1 << 30),
            broker=_address(self.broker, WALL_USER),
            secret=self.secret,
            broker_control=self.broker,
            runtime_dir=base / "sim",
        )
        await self._stack.enter_async_context(self.sim)
        self.watch = SimWatch(self.sim)
        self.changed = self.watch._changed
        self._tag_truth()
        self.ip_seats = ip_seats
        # The hostile account: a seat whose unit was taken away, its credentials in hand.
        self.hostile_seat = ip_seats[-1]
        self.keypad_seats = sorted(su.seat for su in self.config.units if su.keypad)
        self.mic_seats = sorted(su.seat for su in self.config.units if su.mic)
        self.honest = [s for s in self.sim.seats if s != self.hostile_seat]
        kinds = Counter(line.kind.value for line in self.config.lines)
        self.figures.transports = {
            "rtu keypads": sum(len(line.units) for line in self.sim.keypad_lines.values()),
            "tcp keypads": sum(
                1 for su in self.config.units if su.keypad and su.keypad.line in self.sim.gateways
            ),
            "mic units": len(self.mic_seats),
            "ip units": len(ip_seats),
            **{f"{k} lines": v for k, v in sorted(kinds.items())},
        }
        daemon_config = self.sim.daemon_config()
        daemon_config = replace(
            daemon_config,
            broker=replace(
                daemon_config.broker,
                host=self.broker.host,
                port=self.broker.port,
                username=CONTROLLER_USER,
                password=self.broker.users[CONTROLLER_USER],
            ),
        )
        config_path = base / "daemon.toml"
        config_path.write_text(config_toml(daemon_config), encoding="utf-8")
        config_path.chmod(0o600)
        store = TokenStore()
        self.chair_token = store.add("chủ tọa", Role.CHAIR)
        self.observer_token = store.add("màn hình", Role.OBSERVER)
        self.metrics_token = store.add("prometheus", Role.METRICS)
        tokens = base / "tokens.json"
        store.save(tokens)
        self.data = base / "data"
        # `chamber backup` taken in the middle of each secret vote: attacked with the rest.
        self.backups = base / "backups"
        self.backups.mkdir()
        self.live_secrets: list[bytes] = []
        # `/metrics` scraped while each secret vote runs: searched by the attack.
        self.metrics_scrapes: list[str] = []
        self.daemon = Daemon(config_path, self.data, tokens, free_port())
        self._stack.push_async_callback(self.daemon.kill)
        self.figures.daemon_ready_s.append(await self.daemon.start())
        self.chair = await self._stack.enter_async_context(
            httpx.AsyncClient(
                base_url=self.daemon.url,
                headers={"Authorization": f"Bearer {self.chair_token}"},
                timeout=30,
            )
        )
        self.streams = [
            StreamRecorder(self.daemon, self.chair_token, "stream (chair)", self.wake),
            StreamRecorder(self.daemon, self.observer_token, "stream (observer)", self.wake),
            StreamRecorder(
                self.daemon, self.observer_token, "stream (wall)", self.wake, view="wall"
            ),
        ]
        for rec in self.streams:
            rec.start()
            self._stack.push_async_callback(rec.stop)
        host, port = self.broker.host, self.broker.port
        self.hostile_user = mqtt.seat_username(self.hostile_seat)
        self.hostile_password = unit_password(self.secret, self.hostile_user)
        self.mqtt_seen = {
            "mqtt (wall account)": MqttRecorder(
                host, port, WALL_USER, self.broker.users[WALL_USER], "torture-wall-tap"
            ),
            "mqtt (hostile seat account)": MqttRecorder(
                host, port, self.hostile_user, self.hostile_password, self.hostile_user
            ),
        }
        for tap in self.mqtt_seen.values():
            tap.start()
            self._stack.push_async_callback(tap.stop)
        self.sim.ip_units[self.hostile_seat].close()
        async with asyncio.timeout(WAIT_S):
            for tap in self.mqtt_seen.values():
                await tap.connected.wait()

    def _tag_truth(self) -> None:
        """Keep each accepted vote press with its unit's origin, "kp:BOOT:SEQ"/"ip:BOOT:SEQ",
        taken when the unit registers it (the boot cannot change in between)."""
        record = self.sim.truth.record

        def tagged(press: Press) -> None:
            record(press)
            refused = " (refused by the unit)" if press.refused else ""
            self.note(
                f"seat {press.seat} {press.kind.value} {press.key or ''} {press.unit}"
                f" seq {press.seq}{refused}"
            )
            if press.kind is not PressKind.VOTE or press.refused:
                return
            if press.seat in self.sim.ip_units:
                origin = f"ip:{self.sim.ip_units[press.seat].boot}:{press.seq}"
            else:
                ref = self.sim.unit_ref(press.seat)
                host = self.sim.keypad_lines.get(ref.line) or self.sim.gateways[ref.line]
                boot = host.units[ref.address].registers.boot_count
                origin = f"kp:{boot}:{press.seq}"
            self.truth.append(ledger.TruthPress(press.seat, press.key, origin, press.at))

        self.sim.truth.record = tagged  # type: ignore[method-assign]

    def note(self, text: str) -> None:
        """One line of the run's timeline (in the report): what was done, and when."""
        at = asyncio.get_running_loop().time() - self.began
        self.figures.timeline.append(f"{at:9.3f} {text}")

    # --- the API ------------------------------------------------------------------------------

    async def post(self, path: str, body: Any = None) -> dict[str, Any]:
        response = await self._api("POST", path, body)
        if response.status_code != 200:
            raise AssertionError(f"{path}: {response.status_code} {response.text}")
        data: dict[str, Any] = response.json()
        return data

    async def state(self) -> dict[str, Any]:
        response = await self._api("GET", "/api/state")
        if response.status_code != 200:
            raise AssertionError(f"/api/state: {response.status_code} {response.text}")
        data: dict[str, Any] = response.json()["state"]
        return data

    async def _api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        async with asyncio.timeout(WAIT_S):
            await self.daemon.up.wait()
        return await self.chair.request(method, path, json=body)

    async def until_state(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = WAIT_S
    ) -> dict[str, Any]:
        """Until the daemon's state satisfies `predicate`: checked at each stream message."""
        async with asyncio.timeout(within):
            while True:
                self.wake.clear()
                st = await self.state()
                if predicate(st):
                    return st
                await self.wake.wait()

    # --- the run ------------------------------------------------------------------------------

    async def run(self) -> Figures:
        await self.post(
            "/api/sitting/open", {"sitting_id": "kh-thu-tai", "title": "Kỳ họp thử tải"}
        )
        for seat in self.honest:
            self.sim.set_presence(seat, True)
        present = len(self.honest)
        await self.until_state(lambda st: st["attendance"]["present"] >= present)
        votes = self.o.votes or max(2, -(-self.o.kills // 4))
        kills = _spread_over(self.o.kills, votes, self.rng)
        broker_kills = _spread_over(self.o.broker_kills, votes, self.rng)
        for i in range(votes):
            secret = i % 2 == 1
            await self.vote(i + 1, secret, kills[i], broker_kills[i])
        await self.final_books()
        return self.figures

    async def vote(self, index: int, secret: bool, kills: int, broker_kills: int) -> None:
        vote_id = f"nq-{index:02d}"
        opened = await self.open_vote(vote_id, secret)
        script = VoteScript(
            within_s=self.o.press_window_s, no_press=0.1, change=0.25, change_after_s=0.4
        )
        actions: list[Action] = script.plan(self.honest, self.rng)
        mics = MicScript(request=0.15, within_s=self.o.press_window_s)
        mic_seats = [s for s in self.mic_seats if s in self.honest]
        actions += mics.plan(mic_seats, self.rng)
        faults = self.fault_plan(kills, broker_kills)
        print(
            f"vote {vote_id} ({'secret' if secret else 'open'}): {len(actions)} actions, "
            f"{kills} kills, {broker_kills} broker kills, {len(faults) - kills - broker_kills} "
            "other faults",
            flush=True,
        )
        await asyncio.gather(self.sim.perform(sorted(actions)), self.inject(faults))
        # Every second secret vote ends as when the system fails mid-vote: the chair annuls
        # it, runs it again and enters the paper count.
        books = await self.close_vote(vote_id, secret, opened, annul=secret and index % 4 == 0)
        self.books.add(books)
        journal = self.account_journal()
        print(
            f"  {vote_id}: so far lost {journal.lost + self.books.lost} doubled "
            f"{journal.doubled + self.books.doubled} misattributed "
            f"{journal.misattributed + self.books.misattributed} wrong results "
            f"{self.books.wrong_results} secret links "
            f"{journal.secret_links + self.books.secret_links}",
            flush=True,
        )

    async def open_vote(self, vote_id: str, secret: bool) -> float:
        """Create and open a vote; returns the loop time just before, once every honest
        seat's unit takes presses."""
        opened = asyncio.get_running_loop().time()
        kind = "bỏ phiếu kín" if secret else "biểu quyết công khai"
        title = f"Nghị quyết {vote_id} ({kind})"
        body: dict[str, Any] = {"vote_id": vote_id, "title": title, "duration_s": 3600}
        if secret:
            body["mode"] = "secret"
        await self.post("/api/votes", body)
        await self.post(f"/api/votes/{vote_id}/open")
        self.note(f"vote {vote_id} opened")
        await self.watch.until(
            lambda: all(
                not (u := shown(self.sim, s)).locked and u.keys == KEYS for s in self.honest
            ),
            within=WAIT_S,
        )
        self.figures.votes += 1
        self.figures.secret_votes += secret
        return opened

    async def close_vote(
        self,
        vote_id: str,
        secret: bool,
        opened: float,
        *,
        settle_s: float = SETTLE_S,
        annul: bool = False,
    ) -> ledger.Books:
        """Heal, wait until the count settles, close, and account for the vote's result; a
        secret vote is then attacked. With `annul` the chair annuls the vote instead of
        closing it (its result is what was counted, marked annulled), runs it again and
        enters the count taken on paper; the attack then also reads what those left behind.
        Returns the vote's books (the journal's are kept for the end)."""
        loop = asyncio.get_running_loop()
        await self.heal()
        await self.sim.drain()
        window = ledger.VoteWindow(vote_id, secret, opened, loop.time(), tuple(self.honest))
        expected = ledger.expected_choices(self.truth, window)
        if not await self.settle(vote_id, expected, secret, within=settle_s):
            self.figures.unsettled_votes += 1
        window = replace(window, closed=loop.time())
        self.windows.append(window)
        if secret:
            await self.scrape_metrics()
            await self.backup_mid_vote()
        if annul:
            reason = {"reason": "Hệ thống biểu quyết gặp sự cố"}
            await self.post(f"/api/votes/{vote_id}/annul", reason)
            self.note(f"vote {vote_id} annulled")
        else:
            await self.post(f"/api/votes/{vote_id}/close")
            self.note(f"vote {vote_id} closed")
        st = await self.state()
        result = next((r for r in st["results"] if r["vote_id"] == vote_id), None)
        books = ledger.account_result(window, self.truth, result, KEYS)
        got = [t["count"] for t in result["totals"]] if result else None
        print(f"  {vote_id}: truth {ledger.totals_of(expected, KEYS)}, daemon {got}", flush=True)
        # Every unit shows the close (locked, LEDs dark): the commands of the close have passed
        # the broker, so its retained store is what it keeps from now on.
        await self.watch.until(
            lambda: all((u := shown(self.sim, s)).locked and not u.lit for s in self.honest),
            within=WAIT_S,
        )
        if annul:
            books.add(await self.rerun_on_paper(vote_id, ledger.totals_of(expected, KEYS)))
        if secret:
            vote = next(v for v in st["votes"] if v["vote_id"] == vote_id)
            links = await self.attack(window, expected, vote)
            books.secret_links += len(links)
            self.figures.links += links
        return books

    async def rerun_on_paper(self, vote_id: str, totals: list[int]) -> ledger.Books:
        """Biểu quyết lại of an annulled vote, taken on paper: the rerun's result must be the
        count entered, and be linked to the annulled vote."""
        books = ledger.Books()
        rerun = await self.post(f"/api/votes/{vote_id}/rerun", {"vote_id": f"{vote_id}-lai"})
        new_id = rerun["vote_id"]
        await self.post(f"/api/votes/{new_id}/manual-result", {"method": "paper", "totals": totals})
        self.note(f"vote {vote_id} run again as {new_id}, on paper")
        st = await self.state()
        result = next((r for r in st["results"] if r["vote_id"] == new_id), None)
        got = [t["count"] for t in result["totals"]] if result else None
        if result is None or got != totals or result.get("rerun_of") != vote_id:
            books.wrong_results += 1
            books.details.append(f"{new_id}: paper count {totals}, daemon {got}")
        return books

    async def settle(
        self, vote_id: str, expected: Mapping[int, int], secret: bool, within: float = SETTLE_S
    ) -> bool:
        """Until the daemon counts what the units took and every LED agrees; False if not
        within the bound (the books then say what went wrong)."""

        def counted(st: dict[str, Any]) -> bool:
            vote = next((v for v in st["votes"] if v["vote_id"] == vote_id), None)
            if vote is None or vote["tally"]["voted"] != len(expected):
                return False
            choices = {c["seat"]: c["key"] for c in vote.get("choices", [])}
            return secret or choices == dict(expected)

        try:
            await self.until_state(counted, within=within)
            await self.watch.until(
                lambda: all(lit_as(self.sim, expected, s) for s in self.honest), within=WAIT_S
            )
        except TimeoutError:
            self.figures.details.append(f"{vote_id}: the count did not reach the ground truth")
            return False
        return True

    # --- faults -------------------------------------------------------------------------------

    def fault_plan(self, kills: int, broker_kills: int) -> list[tuple[float, str]]:
        kinds = ["kill"] * kills + ["broker"] * broker_kills
        kinds += ["reboot-keypad", "reboot-ip", "reboot-mic", "unplug", "hostile"]
        w = self.o.press_window_s
        return sorted((self.rng.uniform(0.0, w), k) for k in kinds)

    async def inject(self, faults: Sequence[tuple[float, str]]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for at, kind in faults:
            # The scenario's own pacing: the next fault comes at its seeded moment.
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            await self.fault(kind)

    async def fault(self, kind: str) -> None:
        match kind:
            case "kill":
                await self.kill_daemon()
            case "broker":
                await self.kill_broker()
            case "reboot-keypad":
                self.reboot_keypad()
            case "reboot-ip":
                await self.reboot_ip()
            case "reboot-mic":
                self.reboot_mic()
            case "unplug":
                await self.unplug()
            case "hostile":
                await self.hostile()

    async def kill_daemon(self) -> None:
        await self.daemon.kill()
        self.figures.kills += 1
        self.note("daemon SIGKILLed")
        # Half the time back at once; otherwise after a pause in which delegates go on pressing.
        if self.rng.random() < 0.5:
            await asyncio.sleep(self.rng.uniform(0.1, self.o.max_down_s))
        self.figures.daemon_ready_s.append(await self.daemon.start())
        self.note("daemon ready")

    async def kill_broker(self) -> None:
        before = self.broker.restarts
        await self.broker.kill()
        self.figures.broker_kills += 1
        self.note("broker SIGKILLed")
        async with asyncio.timeout(WAIT_S):
            await self.broker.wait_restarts(before + 1)
        loop = asyncio.get_running_loop()
        back = loop.time()
        # The first press after the broker is back: an IP delegate changes their mind.
        seat = self.rng.choice([s for s in self.ip_seats if s in self.honest])
        current = ledger.expected_choices(
            self.truth, ledger.VoteWindow("", False, back - 3600, back, (seat,))
        ).get(seat)
        key = self.rng.choice([k for k in range(1, KEYS + 1) if k != current])
        self.sim.press(seat, key)
        try:
            await self.watch.until(lambda: lit_as(self.sim, {seat: key}, seat), within=WAIT_S)
        except TimeoutError:
            self.figures.details.append(f"broker kill: seat {seat}'s press not read in {WAIT_S} s")
            return
        self.figures.broker_recovery_s.append(loop.time() - back)

    def reboot_keypad(self) -> None:
        """Restart a keypad whose presses the daemon has all read (its LED shows the last),
        so the reboot takes nothing the daemon could have had; the delegate presses the
        presence key again, as they would."""
        now = asyncio.get_running_loop().time()
        since = now - self.o.press_window_s * 4
        window = ledger.VoteWindow("", False, since, now, tuple(self.honest))
        choices = ledger.expected_choices(self.truth, window)
        ready = [s for s in self.keypad_seats if s in self.honest and lit_as(self.sim, choices, s)]
        if not ready or not self.daemon.up.is_set():
            return
        seat = self.rng.choice(ready)
        self.sim.reboot(seat, "keypad")
        self.sim.set_presence(seat, True)
        self.figures.reboots += 1
        self.note(f"keypad of seat {seat} rebooted")

    async def reboot_ip(self) -> None:
        seat = self.rng.choice([s for s in self.ip_seats if s in self.honest])
        unit = self.sim.ip_units[seat]
        # A unit that restarts holds nothing unsent and nothing the controller has not
        # confirmed yet: what a unit keeps across a power cycle is its own business.
        try:
            async with asyncio.timeout(WAIT_S):
                await unit.drain()
                await unit.connected.wait()
            await self.watch.until(lambda: getattr(unit, "unconfirmed", 0) == 0, within=WAIT_S)
        except TimeoutError:
            return
        unit.reboot()
        self.figures.reboots += 1
        self.note(f"IP unit of seat {seat} rebooted")

    def reboot_mic(self) -> None:
        """Restart a microphone unit with nothing queued; the delegate asks for the floor
        right after it is back."""
        ready = []
        for line in self.sim.mic_lines.values():
            ready += [
                u for u in line.units.values() if not u.state.events and u.seat in self.honest
            ]
        if not ready:
            return
        unit = self.rng.choice(ready)
        self.sim.reboot(unit.seat, "mic")
        self.figures.reboots += 1
        self.note(f"mic unit of seat {unit.seat} rebooted")
        asyncio.get_running_loop().call_later(
            self.rng.uniform(0.05, 0.5), self.sim.mic_request, unit.seat
        )

    async def unplug(self) -> None:
        """Pull a serial line's adapter (or a gateway's cable) and plug it back later."""
        lines = [*self.sim.keypad_lines, *self.sim.mic_lines, *self.sim.gateways]
        line = self.rng.choice(sorted(lines))
        hold = self.rng.uniform(0.2, 1.5)
        self.figures.unplugs += 1
        self.note(f"line {line} unplugged for {hold:.2f} s")
        if line in self.sim.gateways:
            gateway: KeypadGatewaySim = self.sim.gateways[line]
            await gateway.stop()
            await asyncio.sleep(hold)
            await gateway.start()
        else:
            await self.sim.unplug(line)
            await asyncio.sleep(hold)
            await self.sim.replug(line)

    async def hostile(self) -> None:
        """The hostile seat account, in one of its guises (in turn)."""
        self.figures.hostile += 1
        victim = self.rng.choice([s for s in self.ip_seats if s in self.honest])
        guise = self.figures.hostile % 4
        hold = self.rng.uniform(0.3, 1.5)
        self.note(f"hostile account, guise {guise}, victim seat {victim}")
        if guise == 1:
            await self.hostile_connect(f"chamber-controller-{self.config.hall_id}", hold)
        elif guise == 2:
            await self.hostile_connect(mqtt.seat_username(victim), hold)
        elif guise == 3:
            await self.hostile_connect(CONTROLLER_USER, hold)
        else:
            await self.hostile_publish(victim)

    async def hostile_connect(self, identifier: str, hold: float) -> None:
        """Connect with a foreign client id (a fresh session, as an attacker's tool does) and
        stay a while, then leave."""
        with contextlib.suppress(aiomqtt.MqttError):
            async with aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                username=self.hostile_user,
                password=self.hostile_password,
                identifier=identifier,
                clean_session=True,
            ):
                await asyncio.sleep(hold)

    async def hostile_publish(self, victim: int) -> None:
        """Press for another seat on its topic, and replay that seat's old presses on it."""
        unit = self.sim.ip_units[victim]
        forged = mqtt.VoteKey(victim, unit.boot, unit.seq + 1, self.rng.randint(1, KEYS))
        old = [p for p in self.truth if p.seat == victim]
        pubs = [self.topics.publication(forged)]
        for p in old[-3:]:
            _, boot, seq = p.origin.split(":")
            pubs.append(self.topics.publication(mqtt.VoteKey(victim, int(boot), int(seq), p.key)))
        with contextlib.suppress(aiomqtt.MqttError):
            async with aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                username=self.hostile_user,
                password=self.hostile_password,
                identifier=f"torture-hostile-{self.rng.randrange(1 << 30):x}",
            ) as client:
                for pub in pubs:
                    await client.publish(pub.topic, pub.payload, pub.qos, pub.retain)
        # And the victim's own unit repeats itself: a QoS 1 redelivery and an old capture.
        self.sim.duplicate(victim)
        self.sim.replay(victim, 2)

    async def heal(self) -> None:
        """After a vote's faults: the daemon up, every IP unit connected."""
        if not self.daemon.up.is_set():
            self.figures.daemon_ready_s.append(await self.daemon.start())
        async with asyncio.timeout(WAIT_S):
            for seat in self.honest:
                if seat in self.sim.ip_units:
                    await self.sim.ip_units[seat].connected.wait()

    # --- the books ----------------------------------------------------------------------------

    def journal_records(self) -> list[tuple[int, dict[str, Any]]]:
        path = self.data / f"{self.config.hall_id}.journal"
        with Journal.open(path) as journal:
            return list(journal.records())

    def account_journal(self) -> ledger.Books:
        return ledger.account_journal(self.truth, self.windows, self.journal_records())

    async def final_books(self) -> None:
        await self.heal()
        await self.mics_journaled()
        records = self.journal_records()
        books = ledger.account_journal(self.truth, self.windows, records)
        books.add(self.books)
        books.add(self.account_mics(records))
        f = self.figures
        f.presses = len(self.truth)
        f.lost, f.doubled, f.misattributed = books.lost, books.doubled, books.misattributed
        f.wrong_results, f.secret_links = books.wrong_results, books.secret_links
        f.details += books.details

    async def mics_journaled(self) -> None:
        """Until the journal holds as many requests per seat as the units took, checked at each
        stream message, or the bound passes (the books then say what is missing). A delegate
        may ask for the floor after the last close (the one whose unit just rebooted does):
        the books must not be taken before the daemon has read it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_S
        while loop.time() < deadline:
            self.wake.clear()
            if self.account_mics(self.journal_records()).lost == 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self.wake.wait()

    def account_mics(self, records: Sequence[tuple[int, Mapping[str, Any]]]) -> ledger.Books:
        """Microphone requests carry no origin on the wire: each one a unit took must be
        journaled once, counted per seat."""
        took = Counter(
            p.seat
            for p in self.sim.truth.presses
            if p.kind is PressKind.MIC_REQUEST and not p.refused and p.seat in self.mic_seats
        )
        got = Counter(
            int(r["seat"])
            for _, r in records
            if r.get("kind") == "mic-request" and r.get("seat") in self.mic_seats
        )
        self.figures.mic_presses = sum(took.values())
        books = ledger.Books()
        for seat in sorted(set(took) | set(got)):
            if got[seat] < took[seat]:
                books.lost += took[seat] - got[seat]
                books.details.append(f"lost: {took[seat] - got[seat]} mic request(s), seat {seat}")
            elif got[seat] > took[seat]:
                books.doubled += got[seat] - took[seat]
                extra = got[seat] - took[seat]
                books.details.append(f"doubled: {extra} mic request(s), seat {seat}")
        return books

    # --- the attacker -------------------------------------------------------------------------

    async def attack(
        self, window: ledger.VoteWindow, expected: Mapping[int, int], vote: Mapping[str, Any]
    ) -> list[str]:
        """After a secret vote's close: everything an attacker reads, searched for the vote's
        (seat, key) pairs."""
        secret = ledger.Secret(
            window.vote_id,
            dict(expected),
            frozenset(
                (p.seat, p.origin) for p in self.truth if window.opened <= p.at <= window.closed
            ),
            vote.get("opened_at"),
            vote.get("closed_at"),
        )
        found: list[str] = []
        found += self.backup_links()
        found += ledger.metrics_links(self.metrics_scrapes, secret)
        roots = (
            (self.data, "data directory"),
            (self.broker_dir, "broker files"),
            (self.backups, "backups"),
        )
        for root, name in roots:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                with contextlib.suppress(OSError):
                    data = path.read_bytes()
                    where = f"{name} {path.relative_to(root)}"
                    found += ledger.blob_links(where, data, secret)
                    found += self.led_links_in_blob(where, data, secret)
        found += ledger.blob_links(
            "daemon log", "\n".join(self.daemon.lines).encode("utf-8"), secret
        )
        # The secretariat's exports, made from the journal: results, participation, minutes.
        for export in ("results.json", "results.csv", "participation.json", "minutes.html"):
            response = await self._api("GET", f"/api/exports/{export}")
            if response.status_code == 200:
                found += ledger.export_links(f"export {export}", response.content, secret)
            else:
                found.append(f"export {export}: {response.status_code}, not searched")
        # The printed minutes (Chromium's PDF), read back by pdftotext, against the HTML's.
        page = await self._api("GET", "/api/exports/minutes.html")
        pdf = await self._api("GET", "/api/exports/minutes.pdf")
        if pdf.status_code == 200 and page.status_code == 200:
            printed = await asyncio.to_thread(pdf_text, pdf.content)
            found += ledger.minutes_pdf_links("export minutes.pdf", printed, page.text, secret)
        else:
            found.append(f"export minutes.pdf: {pdf.status_code}, not searched")
        # The term report the secretary reads: who took part, never in what.
        for page in ("term.html", "term.csv"):
            response = await self._api("GET", f"/api/report/{page}")
            if response.status_code == 200:
                found += ledger.term_report_links(f"report {page}", response.content, secret)
            else:
                found.append(f"report {page}: {response.status_code}, not searched")
        for rec in self.streams:
            messages = rec.since(window.opened)
            for m in messages:
                found += ledger.value_links(rec.name, m, secret)
            # The views the patches built, as a client holds them: checked whole each time.
            views = rec.views_since(window.opened)
            for view in views:
                found += ledger.value_links(f"{rec.name} view", view, secret)
            found += ledger.stream_timing(rec.name, views, secret)
        own = {"mqtt (hostile seat account)": self.hostile_seat}
        for name, tap in self.mqtt_seen.items():
            for at, topic, payload, _retain in tap.messages:
                if at < window.opened:
                    continue
                found += self.mqtt_links(name, topic, payload, secret, own.get(name))
        retained = await retained_messages(
            self.broker.host,
            self.broker.port,
            AUDITOR,
            self.broker.users[AUDITOR],
            f"torture-auditor-{window.vote_id}",
            WAIT_S,
        )
        for topic, payload in retained:
            found += self.mqtt_links("retained on the broker", topic, payload, secret, None)
        found += await self.ring_links(secret)
        for line in found:
            print(f"  secret link: {line}", flush=True)
        return found

    async def scrape_metrics(self) -> None:
        """`GET /metrics` with a metrics token while the secret vote is open, every press in."""
        headers = {"Authorization": f"Bearer {self.metrics_token}"}
        async with httpx.AsyncClient(base_url=self.daemon.url, timeout=30) as client:
            answer = await client.get("/metrics", headers=headers)
        answer.raise_for_status()
        self.metrics_scrapes.append(answer.text)
        self.note(f"metrics scraped mid-vote ({len(answer.text)} bytes)")

    async def backup_mid_vote(self) -> None:
        """`chamber backup` while the secret vote is open with every press in: what the live
        store holds then (the sealed presses, their nonces, the vote's key) is kept to search
        the backup for."""
        journal = self.data / f"{self.config.hall_id}.journal"
        conn = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
        try:
            for nonce, ciphertext in conn.execute("SELECT nonce, ciphertext FROM secret_presses"):
                self.live_secrets += [bytes(nonce), bytes(ciphertext)]
        finally:
            conn.close()
        keys = journal.with_name(journal.name + ".secret-keys")
        self.live_secrets += [p.read_bytes() for p in keys.glob("*.key")]
        result = await asyncio.to_thread(
            take_backup, self.data, self.backups, hall=self.config.hall_id, journals=[journal]
        )
        self.note(f"backup {result.path.name} taken mid-vote")

    def backup_links(self) -> list[str]:
        """The backups hold no sealed press, nonce or key of a secret vote open when they were
        taken, no secret-ballot row and no signing key (`ledger.backup_links`)."""
        return ledger.backup_links(*read_backups(self.backups), self.live_secrets)

    def mqtt_links(
        self, name: str, topic: str, payload: bytes, secret: ledger.Secret, own: int | None
    ) -> list[str]:
        try:
            decoded = self.topics.decode(topic, payload)
        except mqtt.MqttError:
            decoded = None
        if isinstance(decoded, mqtt.LedsCommand) and decoded.seat != own:
            choice = secret.choices.get(decoded.seat)
            if choice is not None and choice in decoded.lit:
                return [f"{name}: {topic} lights seat {decoded.seat}'s key {choice}"]
        with contextlib.suppress(ValueError):
            value = json.loads(payload)
            return ledger.value_links(f"{name} {topic}", value, secret) + ledger.wall_links(
                name, topic, value, secret
            )
        return []

    def led_links_in_blob(self, name: str, data: bytes, secret: ledger.Secret) -> list[str]:
        """A broker's database holds retained payloads next to their topics: an LED state
        lighting a seat's secret choice."""
        found = []
        for seat, key in secret.choices.items():
            if seat not in self.sim.ip_units:
                continue
            topic = self.topics.topic(mqtt.MessageKind.CMD_LEDS, seat).encode()
            start = data.find(topic)
            while start >= 0:
                tail = data[start + len(topic) : start + len(topic) + 512]
                obj = next(ledger.json_objects(tail), None)
                lit = obj.get("lit") if obj is not None else None
                if isinstance(lit, list) and key in lit:
                    found.append(f"{name}: retained LEDs of seat {seat} light key {key}")
                start = data.find(topic, start + 1)
        return found

    def image_ring_links(self, secret: ledger.Secret) -> list[str]:
        """The vote's presses still in any keypad's register image (RTU and gateway alike)."""
        found: list[str] = []
        hosts = [*self.sim.keypad_lines.items(), *self.sim.gateways.items()]
        for line_id, host in hosts:
            for address, unit in sorted(host.units.items()):
                reply = unit.registers.handle(keypad.read_status_request(address))
                if reply is None:
                    continue
                status = keypad.decode_status(reply, address)
                origins = [f"kp:{status.boot_count}:{e.seq}" for e in status.events]
                where = f"keypad ring {line_id}/{address}"
                found += ledger.ring_links(where, unit.seat, origins, secret)
        return found

    async def ring_links(self, secret: ledger.Secret) -> list[str]:
        """Every keypad's event ring, read as any bus master would: over Modbus TCP through
        the gateway, and from the RTU keypads' register images with the same requests.

        The controller clears the rings once it has read them after the close and made what
        it read durable: a poll and a commit after the units show the close. The attacker
        reads once that is done, or once the bound has passed."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        with contextlib.suppress(TimeoutError):
            await self.watch.until(lambda: not self.image_ring_links(secret), within=WAIT_S)
        self.figures.ring_clear_s.append(loop.time() - began)
        found: list[str] = []
        for line_id, gateway in self.sim.gateways.items():
            for address, unit in sorted(gateway.units.items()):
                status = await read_status_tcp(gateway.host, gateway.port, address)
                origins = [f"kp:{status.boot_count}:{e.seq}" for e in status.events]
                where = f"keypad ring {line_id}/{address}"
                found += ledger.ring_links(where, unit.seat, origins, secret)
        for line_id, rtu in self.sim.keypad_lines.items():
            for address, unit in sorted(rtu.units.items()):
                request = keypad.read_status_request(address)
                reply = unit.registers.handle(request)
                if reply is None:
                    continue
                status = keypad.decode_status(reply, address)
                origins = [f"kp:{status.boot_count}:{e.seq}" for e in status.events]
                where = f"keypad ring {line_id}/{address}"
                found += ledger.ring_links(where, unit.seat, origins, secret)
        return found


async def read_status_tcp(host: str, port: int, address: int) -> keypad.KeypadStatus:
    """One status read over Modbus TCP, a second master beside the daemon's."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = keypad.read_status_request(address)
        request.transaction_id = 0x7A7A
        writer.write(keypad.encode_frame(request, keypad.Transport.TCP))
        framer = keypad.KeypadFramer(keypad.Transport.TCP, keypad.Side.CONTROLLER)
        async with asyncio.timeout(WAIT_S):
            while True:
                data = await reader.read(4096)
                if not data:
                    raise ConnectionError("the gateway closed the connection")
                for reply in framer.feed(data):
                    return keypad.decode_status(reply, address)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def pdf_text(pdf: bytes) -> str:
    """A PDF's text as poppler's pdftotext reads it (what a reader of the print copies)."""
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8", "replace")


def _address(broker: Mosquitto, user: str) -> Any:
    from chamber.simulator.ipunits import BrokerAddress

    return BrokerAddress(broker.host, broker.port, user, broker.users[user])


def _spread_over(total: int, buckets: int, rng: random.Random) -> list[int]:
    """`total` faults over `buckets` votes, as evenly as whole numbers allow, in seeded order."""
    base, extra = divmod(total, buckets)
    counts = [base + (1 if i < extra else 0) for i in range(buckets)]
    rng.shuffle(counts)
    return counts


@contextlib.asynccontextmanager
async def torture(options: Options) -> AsyncIterator[Torture]:
    async with Torture(options) as t:
        yield t


async def run(options: Options) -> Figures:
    async with Torture(options) as t:
        return await t.run()


__all__ = ["Figures", "Options", "Torture", "run"]


def read_backups(root: Path) -> tuple[dict[str, bytes], dict[str, int]]:
    """Every file under the backup directory (by its path there), and the secret-ballot rows
    of each journal among them."""
    files: dict[str, bytes] = {}
    rows: dict[str, int] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        files[name] = path.read_bytes()
        if path.suffix == ".journal":
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                (rows[name],) = conn.execute("SELECT count(*) FROM secret_presses").fetchone()
            finally:
                conn.close()
    return files, rows
