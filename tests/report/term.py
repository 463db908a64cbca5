"""A generated term: sittings driven through the real runtime into real journals, with the
generator's own count of what each delegate did.

Each sitting is driven in this process through `controller.runtime.Runtime` (the core, the
journal writer, the secret-ballot store) on a fake clock: delegates arrive, leave and come
back (some marked absent by the secretary, with a reason), the chair takes one or two roll
calls, holds open and secret votes that the present delegates press or leave alone, and
gives the floor on the speakers' and the questions' lists. Everything is drawn from a seeded
`random.Random`. `Truth` is what the generator itself did, counted as it did it: the tests
compare the report with it, never with the report's own arithmetic.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import (
    AnnulVote,
    ClockAnchor,
    CloseAttendance,
    CloseSitting,
    CloseVote,
    CreateVote,
    GrantFloor,
    Input,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    RecordAbsence,
    RevokeFloor,
    SetPresence,
    VoteKeyPressed,
)
from chamber.controller.core.model import SpeakerList, VoteMode
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime

DAY_START = time(8, 0)


@dataclass
class DelegateTruth:
    sittings_attended: int = 0
    sessions_attended: int = 0
    present_s: float = 0.0
    votes_held: int = 0
    votes_taken: int = 0
    speeches: int = 0
    speech_s: float = 0.0
    questions: int = 0
    question_s: float = 0.0
    # (sitting id, whole sitting?, reason, with leave? (None: not said))
    absences: list[tuple[str, bool, str, bool | None]] = field(default_factory=list)


@dataclass
class Truth:
    """What the generator did, per delegate, over the sittings it generated."""

    delegates: dict[str, DelegateTruth]
    # sitting id -> (sessions, votes held)
    sittings: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The days the sittings opened on, by sitting id.
    days: dict[str, date] = field(default_factory=dict)


class TermDriver:
    """Drives sittings into one journal through a running `Runtime`."""

    def __init__(self, config: HallConfig, truth: Truth, rng: random.Random) -> None:
        self.config = config
        self.truth = truth
        self.rng = rng
        self.seat_of = {s.delegate: s.number for s in config.hall.seats if s.delegate}
        self.voting = {d.id for d in config.hall.delegates if d.voting}
        self.zone = ZoneInfo(config.timezone)
        self.clock = FakeClock(1000.0)
        self.runtime: Runtime | None = None

    async def run_journal(self, path: Path, sittings: list[tuple[str, date]]) -> None:
        with Journal.open(path) as journal:
            runtime = Runtime(
                self.config, journal, clock=self.clock, secret_key_dir=path.parent / "keys"
            )
            self.runtime = runtime
            task = asyncio.ensure_future(runtime.run())
            try:
                async with asyncio.timeout(60):
                    await runtime.started.wait()
                for sid, day in sittings:
                    await self.sitting(sid, day)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self.runtime = None

    async def cmd(self, make: Callable[[float], Input]) -> None:
        assert self.runtime is not None
        await self.runtime.command(make)

    def feed(self, inp: Input) -> None:
        assert self.runtime is not None
        self.runtime.feed(inp)

    def step(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    async def sitting(self, sid: str, day: date) -> None:
        rng, truth = self.rng, self.truth
        start = datetime.combine(day, DAY_START, self.zone)
        self.step(3600.0)
        unix = start.timestamp()
        await self.cmd(lambda at: ClockAnchor(at, unix))
        await self.cmd(lambda at: OpenSitting(at, sid, f"Kỳ họp {sid}"))
        opened = self.clock.now()
        truth.days[sid] = day
        present: dict[str, float] = {}  # delegate -> since
        totals: dict[str, float] = {d: 0.0 for d in self.seat_of}
        ever: set[str] = set()
        part_absent: dict[str, str] = {}

        def arrive(d: str) -> None:
            at = self.step(rng.uniform(0.5, 5.0))
            self.feed(PresenceChanged(at, self.seat_of[d], True))
            present[d] = at
            ever.add(d)

        def leave(d: str) -> None:
            at = self.step(rng.uniform(0.5, 5.0))
            self.feed(PresenceChanged(at, self.seat_of[d], False))
            totals[d] += at - present.pop(d)

        delegates = list(self.seat_of)
        away = {d for d in delegates if rng.random() < 0.08}  # the whole sitting
        for d in delegates:
            if d not in away:
                arrive(d)
        # The secretary records why most of those away are absent, with leave or without.
        noted: dict[str, tuple[str, bool | None]] = {}
        for d in sorted(away):
            if rng.random() < 0.7:
                excused = rng.random() < 0.6
                reason = "Đi học tập trung" if excused else "Không báo trước"
                self.step(1.0)
                await self.cmd(_absence_noted(self.seat_of[d], excused, reason))
                noted[d] = (reason, excused)
        sessions = rng.choice((1, 2))
        votes_held = 0
        registered: list[set[str]] = []
        for session in range(sessions):
            if session > 0:
                # The break: some go, some come back.
                for d in [d for d in sorted(present) if rng.random() < 0.2]:
                    leave(d)
                for d in [d for d in delegates if d not in present and d not in away]:
                    if d not in part_absent and rng.random() < 0.6:
                        arrive(d)
            self.step(10.0)
            await self.cmd(lambda at: OpenAttendance(at, False))
            registered.append(set(present))
            self.step(5.0)
            await self.cmd(lambda at: CloseAttendance(at))
            for _ in range(rng.randint(2, 4)):
                votes_held += await self.vote(sid, present)
            for _ in range(rng.randint(1, 4)):
                await self.speech(present)
            # The secretary marks one present delegate absent, with the reason, for the record.
            if present and rng.random() < 0.5:
                d = rng.choice(sorted(present))
                reason = rng.choice(("Đi công tác", "Việc gia đình", "Ốm"))
                self.step(2.0)
                await self.cmd(_marked_absent(self.seat_of[d], reason))
                totals[d] += self.clock.now() - present.pop(d)
                part_absent[d] = reason
        self.step(30.0)
        await self.cmd(lambda at: CloseSitting(at))
        closed = self.clock.now()
        for d, since in present.items():
            totals[d] += closed - since
        present.clear()
        # Everyone leaves the hall after the close (outside the sitting: not counted).
        for d in delegates:
            at = self.step(0.1)
            self.feed(PresenceChanged(at, self.seat_of[d], False))
        assert closed > opened
        truth.sittings[sid] = (sessions, votes_held)
        for d in delegates:
            t = truth.delegates[d]
            t.present_s += totals[d]
            if d in ever:
                t.sittings_attended += 1
            else:
                why, with_leave = noted.get(d, ("", None))
                t.absences.append((sid, True, why, with_leave))
            if d in part_absent:
                t.absences.append((sid, False, part_absent[d], None))
            t.sessions_attended += sum(1 for r in registered if d in r)
            if d in self.voting:
                t.votes_held += votes_held

    async def vote(self, sid: str, present: dict[str, float]) -> int:
        """One vote: open or secret; sometimes annulled after its close (then it is not held).
        Returns how many votes it adds to those held."""
        rng = self.rng
        assert self.runtime is not None
        vid = f"{sid}-v{len(self.runtime.core.votes) + 1}"
        mode = VoteMode.SECRET if rng.random() < 0.3 else VoteMode.OPEN
        self.step(5.0)
        await self.cmd(
            lambda at: CreateVote(at, vid, f"Nghị quyết {vid}", mode=mode, quorum_required=False)
        )
        self.step(1.0)
        await self.cmd(lambda at: OpenVote(at, vid))
        pressed: set[str] = set()
        for d in sorted(present):
            if d in self.voting and rng.random() < 0.85:
                self.feed(VoteKeyPressed(self.step(0.2), self.seat_of[d], rng.randint(1, 3)))
                pressed.add(d)
                if rng.random() < 0.1:  # a change of mind: still one vote taken part in
                    self.feed(VoteKeyPressed(self.step(0.2), self.seat_of[d], rng.randint(1, 3)))
        self.step(2.0)
        await self.cmd(lambda at: CloseVote(at, vid))
        if rng.random() < 0.1:
            self.step(1.0)
            await self.cmd(lambda at: AnnulVote(at, vid, "Hệ thống lỗi khi biểu quyết"))
            return 0
        for d in pressed:
            self.truth.delegates[d].votes_taken += 1
        return 1

    async def speech(self, present: dict[str, float]) -> None:
        rng = self.rng
        if not present:
            return
        d = rng.choice(sorted(present))
        lst = SpeakerList.QUESTION if rng.random() < 0.35 else SpeakerList.SPEAK
        self.step(3.0)
        await self.cmd(lambda at: GrantFloor(at, self.seat_of[d], lst))
        began = self.clock.now()
        self.step(rng.uniform(20.0, 400.0))
        await self.cmd(lambda at: RevokeFloor(at, self.seat_of[d]))
        t = self.truth.delegates[d]
        if lst is SpeakerList.QUESTION:
            t.questions += 1
            t.question_s += self.clock.now() - began
        else:
            t.speeches += 1
            t.speech_s += self.clock.now() - began


def _absence_noted(seat: int, excused: bool, reason: str) -> Callable[[float], Input]:
    return lambda at: RecordAbsence(at, seat, excused, reason)


def _marked_absent(seat: int, reason: str) -> Callable[[float], Input]:
    return lambda at: SetPresence(at, seat, False, reason)


def backup(source: Path, target: Path) -> None:
    """A copy by SQLite's online backup, as docs/technician.md tells the technician to make."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@dataclass(frozen=True)
class GeneratedTerm:
    truth: Truth
    # Directories to hand to the report: the first PC's, the second PC's, the backups.
    paths: tuple[Path, ...]
    sittings: tuple[str, ...]
    # A sitting of the term before, in the first journal (outside the term).
    before: str


TERM_START = date(2021, 7, 1)
TERM_END = date(2026, 6, 30)


async def generate_term(config: HallConfig, root: Path, *, seed: int = 13) -> GeneratedTerm:
    """15 sittings of the term (and one of the term before), in three journals on two PCs:

    - `pc1/` holds the first journal, renamed aside when it was rotated (sittings 1 to 5 and
      the earlier term's last sitting), with its head file, and the journal that followed it
      (sittings 6 to 10);
    - `pc2/` holds the third (sittings 11 to 15);
    - `backups/` holds a copy of the first journal made after sitting 3 (a prefix of it) and a
      whole copy of the third.
    """
    rng = random.Random(seed)
    truth = Truth({d.id: DelegateTruth() for d in config.hall.delegates})
    ids = [f"ky-hop-{n:02d}" for n in range(1, 16)]
    days = [TERM_START + timedelta(days=60 + 110 * n) for n in range(15)]
    plan = list(zip(ids, days, strict=True))
    pc1, pc2, backups = root / "pc1", root / "pc2", root / "backups"
    for d in (pc1, pc2, backups):
        d.mkdir(parents=True)
    journal = pc1 / f"{config.hall_id}.journal"

    driver = TermDriver(config, truth, rng)
    before = "ky-hop-cuoi-khoa-truoc"
    earlier = Truth({d.id: DelegateTruth() for d in config.hall.delegates})
    driver.truth = earlier  # the term before: generated, but no part of this term's truth
    await driver.run_journal(journal, [(before, date(2021, 3, 20))])
    driver.truth = truth
    await driver.run_journal(journal, plan[0:3])
    backup(journal, backups / "2022-hdnd.journal")
    await driver.run_journal(journal, plan[3:5])
    rotated = pc1 / f"{config.hall_id}.journal.2023"
    journal.rename(rotated)
    journal.with_name(journal.name + ".head").rename(rotated.with_name(rotated.name + ".head"))
    await driver.run_journal(journal, plan[5:10])
    second = pc2 / f"{config.hall_id}.journal"
    await driver.run_journal(second, plan[10:15])
    backup(second, backups / "pc2-hdnd.journal")
    return GeneratedTerm(truth, (pc1, pc2, backups), tuple(ids), before)
