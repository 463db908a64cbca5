"""The daemon's runtime: one task group owns the drivers, the meeting core, the journal and the API.

The core loop is the only place that touches the meeting core:

1. wait for inputs (from drivers and the API) or for the core's next deadline (a `Tick`);
2. take every input waiting, and hand each to the core;
3. journal all accepted inputs in ONE commit, and wait until it is on disk;
4. only then send the effects: the LED that confirms a press lights after the press is durable;
5. refresh the read model (every audience's view, `controller.core.view`): the stream sends
   the patches of what changed; then answer the API's pending commands.

Inputs that arrive while a commit is in flight form the next batch, so commits group by
themselves under load and cost one fsync per batch, not per press. On start the journal is
replayed into a fresh core and every unit is resynchronised.

A chair command the core refuses raises `CommandRejected` to its caller and is not journaled (it
changed nothing). A unit input is always journaled, even when the core rejects it (a late
press is recorded). An unexpected error in the core is logged and never stops the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chamber.controller.config import HallConfig
from chamber.controller.core.clock import Clock, ResumingClock
from chamber.controller.core.effects import Chime, Effect, Notification, UnitCommand
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    ClockAnchor,
    FaultAcknowledged,
    Input,
    OpenAttendance,
    OpenVote,
    SecretVoteSealed,
    Tick,
    VoteKeyPressed,
    to_record,
)
from chamber.controller.core.model import MicClass
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.view import Audience, HallInfo, Health, Projector, View
from chamber.controller.core.votes import VoteState
from chamber.controller.faults import Fault, FaultBook
from chamber.controller.hub import Hub
from chamber.controller.journal import Journal, JournalWriter
from chamber.controller.secret_store import SecretBallotStore
from chamber.drivers.base import (
    ChimeCapable,
    Driver,
    HealthSink,
    Identifying,
    IdentifyResult,
    InputSink,
    LineHealth,
    Resumable,
    Settling,
    SittingAware,
    UnitHealth,
)
from chamber.drivers.registry import LINE_DRIVERS
from chamber.drivers.topology import Line

log = logging.getLogger("chamber.runtime")


class LineHeld(Exception):
    """A line cannot be released while `what` ("vote", "attendance") holds its units."""

    def __init__(self, line: str, what: str) -> None:
        self.line = line
        self.what = what
        super().__init__(f"line {line}: a {what} is open")


# The read model is refreshed no more than this share of the time, over any stretch longer
# than REFRESH_BURST_S: each refresh that took t seconds books t / REFRESH_SHARE of the time
# (a cell rate: `_paced_refresh`), and a refresh waits only while the time booked runs more
# than REFRESH_BURST_S ahead. A press after a quiet moment goes out at once; a sustained burst
# of presses is held to the share (bench figure 1 and figure 8).
REFRESH_SHARE = 0.2
REFRESH_BURST_S = 0.025
# The health and the fault list are taken again with the next refresh after a health report
# changed something, and at most this often after a change of the live figures alone (a
# unit's last message, its response time: every press is a message from its unit), or when
# nothing was reported.
HEALTH_LIVE_EVERY_S = 2.0

DriverFactory = Callable[[HallConfig, Clock, InputSink, HealthSink], Sequence[Driver]]


@dataclass(frozen=True)
class _SecretPressItem:
    vote_id: str
    press: VoteKeyPressed


@dataclass(frozen=True)
class _SecretOpenItem:
    vote_id: str


@dataclass(frozen=True)
class _SealItem:
    vote_id: str
    closing: dict[str, Any] | None


# A record for the chain, or a secret-ballot step.
_JournalItem = dict[str, Any] | _SecretPressItem | _SecretOpenItem | _SealItem


def _key_dir_of(journal: Journal) -> Path:
    return journal.path.with_name(journal.path.name + ".secret-keys")


@dataclass
class _Pending:
    inp: Input
    reply: asyncio.Future[list[Effect]] | None
    # When the runtime took it (perf_counter): press-to-commit latency (`on_commit`).
    taken: float = field(default_factory=time.perf_counter)


@dataclass
class RuntimeStats:
    batches: int = 0
    inputs: int = 0
    rejected_commands: int = 0
    core_errors: int = 0
    replayed: int = 0
    replay_s: float = 0.0
    last_batch: int = 0
    largest_batch: int = 0
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Unit inputs the core took, by input kind ("vote-key", "mic-request", ...).
    unit_inputs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Per line, how often it came back after a loss (its connection, e.g. the MQTT broker).
    line_reconnects: dict[str, int] = field(default_factory=lambda: defaultdict(int))


# Told after each durable commit: its duration, and each unit input's time from being taken
# to durable (seconds). Only durations: nothing of which seat or what key.
CommitObserver = Callable[[float, Sequence[float]], None]


class Runtime:
    """The sitting's live state and its single writer. Build one, then `await run()`."""

    def __init__(
        self,
        config: HallConfig,
        journal: Journal,
        *,
        clock: Clock | None = None,
        driver_factory: DriverFactory | None = None,
        secret_key_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or ResumingClock()
        self.core = MeetingCore(config.hall)
        self.journal = journal
        # Presses of an open secret vote are kept out of the chain, encrypted under a key of
        # their own beside the journal, and destroyed when the vote closes.
        self.secret = SecretBallotStore(journal, secret_key_dir or _key_dir_of(journal))
        # Awaited after each journal commit before it is confirmed (a standby's copy, set by
        # the daemon when it ships its journal: `controller.standby.Shipper.replicated`).
        self.replicate: Callable[[int], Awaitable[None]] | None = None
        self._hall_info: HallInfo = {
            "id": config.hall_id,
            "name": config.hall.body.name,
            "short_name": config.hall.body.short_name,
            "members": config.hall.body.members,
            "language": config.hall.language.value,
            "training": config.training,
        }
        self._core_state: dict[str, Any] | None = None
        self.hub = Hub(self.views, clock=self.clock.now, flush=self._flush_refresh)
        self._project = Projector()
        # The health and fault list of the views, as last taken (`views`).
        self._health_part: tuple[Health, list[dict[str, Any]]] | None = None
        self._health_at = 0.0
        self._health_changed = False
        self._refresh_handle: asyncio.Handle | None = None
        self._refresh_not_before = 0.0
        # The time the refreshes so far have booked at their share (`_paced_refresh`).
        self._refresh_booked = 0.0
        self._health_live = False
        self.stats = RuntimeStats()
        self._inbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._driver_factory = driver_factory
        self.drivers: list[Driver] = []
        # Each driver's supervising task, by driver name, and the group they run in: a line
        # is stopped and started again around commissioning (`line_released`).
        self._driver_tasks: dict[str, asyncio.Task[None]] = {}
        # Lines handed to commissioning: their units are not driven, so nothing may open that
        # would ask them for presses (`_refuse_while_released`).
        self._released: set[str] = set()
        self._group: asyncio.TaskGroup | None = None
        self._sitting_told: bool | None = None
        self._by_seat: dict[int, list[Driver]] = defaultdict(list)
        self._health: dict[tuple[str, int], UnitHealth] = {}
        self._lines: dict[str, LineHealth] = {}
        # The technician's fault list, from the health reports (controller/faults.py).
        self.faults = FaultBook()
        self.started = asyncio.Event()
        # The last journaled origin per (seat, unit kind), e.g. a keypad's "kp:BOOT:SEQ": the
        # drivers resume their units' event numbering from it after a restart.
        self.origins: dict[tuple[int, str], str] = {}
        # Per open secret vote, the (seat, unit kind) whose last event was one of its presses:
        # their cursors go into the vote's sealed record, since the presses themselves go.
        self._secret_cursors: dict[str, set[tuple[int, str]]] = defaultdict(set)
        self._chair_seats = frozenset(
            s.number for s in config.hall.seats if s.mic_class is MicClass.CHAIR
        )
        # Called once a batch that closed a vote is durable (and a secret one sealed): the
        # daemon's backup (`controller.backup.BackupService.request`).
        self.after_vote_close: list[Callable[[], None]] = []
        # Told of every commit's timings (`controller.metrics`).
        self.on_commit: list[CommitObserver] = []

    # --- state for subscribers ---------------------------------------------------------

    def views(self) -> dict[Audience, View]:
        """Every audience's view of the hall now (the read model, `controller.core.view`).

        The core's snapshot is taken again only after the core took inputs, and the health
        (with the fault list) only after a health report changed something; after a change
        of the live figures alone (a unit's last message, its response time) at most every
        `HEALTH_LIVE_EVERY_S`: a refresh for presses reuses
        the health as it was, and the triage made of it (at 4,096 units the triage sorts them
        all, and every press is a message from its unit)."""
        if self._core_state is None:
            self._core_state = self.core.snapshot()
        now = time.perf_counter()
        if self.faults.expire(self.clock.now()):
            self._health_changed = True
        age = now - self._health_at
        if self._health_part is None or self._health_changed or age >= HEALTH_LIVE_EVERY_S:
            self._health_part = (self.health_snapshot(), self.faults.snapshot())
            self._health_at = now
            self._health_changed = False
            self._health_live = False
        health, faults = self._health_part
        return self._project(self._core_state, self._hall_info, health, faults)

    def _core_changed(self) -> None:
        self._core_state = None

    def _refresh_soon(self, *, health: bool = True, live: bool = False) -> None:
        """Refresh the read model soon: once the current burst of inputs or health reports
        is handled, and no sooner than the pace allows (`_paced_refresh`). A change of the
        live figures alone (`live`) waits for their own pace too."""
        if health:
            self._health_changed = True
        elif live:
            self._health_live = True
        if self._refresh_handle is not None:
            return
        loop = asyncio.get_running_loop()
        due = self._refresh_not_before
        if not health and live and self._health_part is not None:
            due = max(due, self._health_at + HEALTH_LIVE_EVERY_S)
        wait = due - time.perf_counter()
        if wait > 0:
            self._refresh_handle = loop.call_later(wait, self._paced_refresh)
        else:
            self._refresh_handle = loop.call_soon(self._paced_refresh)

    def _paced_refresh(self) -> None:
        """Project the views and send the patches now, then set the pace: the next refresh
        comes no sooner than `REFRESH_SHARE` of the time allows, with a burst of
        `REFRESH_BURST_S` allowed. At 50 seats a refresh takes about a millisecond and a press
        is not held back (it was, by four times the last refresh, before the burst was
        allowed: bench figure 1); at 4,096 seats, pressing within a second, presses that arrive
        during the pause are sent together, so the stream costs a bounded share of the core
        loop however fast presses come."""
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None
        start = time.perf_counter()
        self.hub.refresh()
        end = time.perf_counter()
        self._refresh_booked = max(self._refresh_booked, start) + (end - start) / REFRESH_SHARE
        self._refresh_not_before = self._refresh_booked - REFRESH_BURST_S
        if self._health_changed:
            # The health was not due yet: it goes out with a later refresh.
            self._refresh_soon()
        elif self._health_live:
            self._refresh_soon(health=False, live=True)

    def _flush_refresh(self) -> None:
        """A read of the views: a refresh put off for the pace happens now (the health as
        its own pace has it: a read does not make the daemon sort 4,096 units again)."""
        if self._refresh_handle is not None:
            self._paced_refresh()

    def health_snapshot(self) -> Health:
        """Every line and unit, read live from the drivers (last seen, response times)."""
        lines = dict(self._lines)
        units = dict(self._health)
        for driver in self.drivers:
            for item in driver.health():
                if isinstance(item, LineHealth):
                    lines[item.line] = item
                else:
                    units[(item.line, item.address)] = item
        return {
            "lines": [vars(h) | {} for h in lines.values()],
            "units": [vars(h) | {"kind": h.kind.value} for h in units.values()],
        }

    # --- inputs --------------------------------------------------------------------------

    def feed(self, inp: Input) -> None:
        """A unit input from a driver: queued, never refused here."""
        self._inbox.put_nowait(_Pending(inp, None))

    async def command(self, make: Callable[[float], Input]) -> list[Effect]:
        """Run a chair/secretary/technician command; `make(at)` builds the input.

        Returns the effects once they are durable; raises `CommandRejected` when refused.
        """
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[list[Effect]] = loop.create_future()
        self._inbox.put_nowait(_Pending(make(self.clock.now()), reply))
        return await reply

    async def commands(self, inputs: Sequence[Input]) -> list[list[Effect]]:
        """Run several commands as one batch, in order: the core takes them one after the
        other and the journal writes them in one commit, so a restart finds all or none of
        them. Each input's `at` is replaced by the clock's reading now. Raises the first
        refusal once every one is answered (those before it stay done; check first what can
        be checked)."""
        loop = asyncio.get_running_loop()
        now = self.clock.now()
        replies: list[asyncio.Future[list[Effect]]] = []
        for inp in inputs:
            reply: asyncio.Future[list[Effect]] = loop.create_future()
            # All put before the loop runs again: it takes everything waiting as one batch.
            self._inbox.put_nowait(_Pending(dataclasses.replace(inp, at=now), reply))
            replies.append(reply)
        answers = await asyncio.gather(*replies, return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return [a for a in answers if not isinstance(a, BaseException)]

    def _on_health(self, item: UnitHealth | LineHealth) -> None:
        if self.faults.observe(item, self.clock.now()):
            self._refresh_soon()
        if isinstance(item, LineHealth):
            before = self._lines.get(item.line)
            self._lines[item.line] = item
            if before is not None and not before.connected and item.connected:
                self.stats.line_reconnects[item.line] += 1
            if before is None or before.connected != item.connected:
                self._refresh_soon()
            return
        key = (item.line, item.address)
        before_unit = self._health.get(key)
        self._health[key] = item
        if before_unit is None:
            self._refresh_soon()
        elif before_unit != item:
            live_only = (
                dataclasses.replace(
                    before_unit, last_seen=item.last_seen, response_ms=item.response_ms
                )
                == item
            )
            self._refresh_soon(health=not live_only, live=live_only)

    # --- the technician ------------------------------------------------------------------

    async def acknowledge_fault(self, fault_id: str) -> Fault:
        """The technician has seen fault `fault_id`: journaled (`fault-ack`), then marked in
        the list until it clears. Raises `faults.UnknownFault` for a fault not in the list."""
        fault = self.faults.get(fault_id)
        await self.command(lambda at: FaultAcknowledged(at, fault_id, fault.first_at))
        seen = self.faults.acknowledge(fault_id, self.clock.now())
        self._refresh_soon()
        return seen

    async def identify(self, line: str, address: int, seconds: int) -> IdentifyResult:
        """Ask the unit at `address` on `line` to blink for `seconds` (its driver's
        `Identifying.identify`). KeyError when the line has no such unit,
        NotImplementedError when the line's units have no identify command."""
        for driver in self.drivers:
            if driver.name != line:
                continue
            if not isinstance(driver, Identifying):
                raise NotImplementedError(f"the units on line {line} cannot identify themselves")
            if address not in driver.units():
                break
            return await driver.identify(address, seconds)
        raise KeyError(f"no unit {address} on line {line}")

    # --- the loop ------------------------------------------------------------------------

    def replay(self) -> int:
        """Feed the journal into the core; returns how many inputs were replayed."""
        started = time.perf_counter()
        count = 0
        for inp in self.journal.replay_inputs(secret=self.secret):
            self._note_origin(inp, self._secret_vote())
            try:
                self.core.handle(inp)
            except CommandRejected as exc:  # journaled inputs were accepted once
                log.warning(
                    "replayed input refused",
                    extra={"event": "replay-refused", "reason": exc.message},
                )
            count += 1
        # A crash between a secret vote's close and its seal leaves its presses stored: seal
        # it now, from the result the replay just rebuilt.
        for vote_id in self.secret.open_votes():
            vote = self.core.votes.get(vote_id)
            if vote is None or vote.state not in (VoteState.OPEN, VoteState.HOLD):
                self.secret.purge(vote_id, closing=self._sealed_record(vote_id, self.clock.now()))
                self._secret_cursors.pop(vote_id, None)
        self.stats.replayed = count
        self.stats.replay_s = time.perf_counter() - started
        return count

    async def _next_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        while not batch:
            deadline = self.core.next_deadline()
            now = self.clock.now()
            if deadline is not None and deadline <= now:
                batch.append(_Pending(Tick(at=now), None))
                break
            timeout = None if deadline is None else max(0.0, deadline - now)
            try:
                batch.append(await asyncio.wait_for(self._inbox.get(), timeout))
            except TimeoutError:
                continue
        while not self._inbox.empty():
            batch.append(self._inbox.get_nowait())
        return batch

    async def _core_loop(self, writer: JournalWriter) -> None:
        while True:
            batch = await self._next_batch()
            accepted: list[tuple[_Pending, list[Effect]]] = []
            items: list[_JournalItem] = []
            for pending in batch:
                secret_before = self._secret_vote()
                try:
                    self._refuse_while_released(pending.inp)
                    effects = self.core.handle(pending.inp)
                except CommandRejected as exc:
                    self.stats.rejected_commands += 1
                    if pending.reply is None:
                        # A unit input the core refused as malformed: not journaled (it could
                        # not be replayed), logged once. The message never holds a key.
                        log.warning(
                            "unit input refused: %s",
                            exc.message,
                            extra={
                                "event": "input-refused",
                                "input": pending.inp.kind,
                                "reason": exc.code,
                            },
                        )
                    elif not pending.reply.done():
                        pending.reply.set_exception(exc)
                    # A refused command can still let a secret vote's deadline close it.
                    items.extend(self._seal_items(secret_before, pending.inp.at))
                    continue
                except Exception as exc:  # a bug in the core must not stop the hall
                    self.stats.core_errors += 1
                    log.exception(
                        "meeting core failed on an input",
                        extra={"event": "core-error", "input": pending.inp.kind},
                    )
                    if pending.reply is not None and not pending.reply.done():
                        pending.reply.set_exception(
                            CommandRejected("core.internal", error=type(exc).__name__)
                        )
                    items.extend(self._seal_items(secret_before, pending.inp.at))
                    continue
                accepted.append((pending, effects))
                self._note_origin(pending.inp, secret_before)
                items.extend(self._journal_items(pending.inp, secret_before))
            if items:
                commit_start = time.perf_counter()
                await self._journal(writer, items)
                done = time.perf_counter()
                waits = [done - p.taken for p, _ in accepted if p.reply is None]
                for observe in self.on_commit:
                    observe(done - commit_start, waits)
            # Every unit input of the batch has its final answer now (durable, or refused):
            # a transport that holds its acknowledgement until then may let it go.
            self._settle([p.inp for p in batch if p.reply is None])
            if not items:
                continue
            self.stats.batches += 1
            self.stats.inputs += len(accepted)
            self.stats.last_batch = len(accepted)
            self.stats.largest_batch = max(self.stats.largest_batch, len(accepted))
            for pending, _ in accepted:
                if pending.reply is None:
                    self.stats.unit_inputs[pending.inp.kind] += 1
            for _, effects in accepted:
                self._dispatch(effects)
            if self.after_vote_close and any(
                isinstance(e, Notification) and e.topic == "vote.closed"
                for _, effects in accepted
                for e in effects
            ):
                for hook in self.after_vote_close:
                    hook()
            # The views as this batch left them. A command's patch goes out at once and is
            # numbered before its caller is answered, so its answer's `seq` is already on the
            # stream; unit inputs alone go out at the refresh's pace (`_paced_refresh`).
            self._core_changed()
            if any(pending.reply is not None for pending, _ in accepted):
                self._paced_refresh()
            else:
                self._refresh_soon(health=False)
            for pending, effects in accepted:
                if pending.reply is not None and not pending.reply.done():
                    pending.reply.set_result(effects)

    def _settle(self, inputs: list[Input]) -> None:
        if not inputs:
            return
        for driver in self.drivers:
            if isinstance(driver, Settling):
                try:
                    driver.settled(inputs)
                except Exception:  # a driver's bookkeeping must not stop the core loop
                    log.exception(
                        "driver %s failed to settle inputs",
                        driver.name,
                        extra={"event": "settle-error", "driver": driver.name},
                    )

    # --- where each unit's event stream stands ---------------------------------------------

    def _note_origin(self, inp: Input, secret_vote: str | None) -> None:
        """Keep the last journaled origin per (seat, unit kind); the drivers resume from it.

        A secret ballot's press is stored encrypted with its origin, and its vote's sealed
        record keeps the cursor once the presses are gone (`SecretVoteSealed.cursors`)."""
        if isinstance(inp, SecretVoteSealed):
            for cursor in inp.cursors:
                seat, sep, mark = cursor.partition("=")
                if sep and seat.isdigit():
                    self.origins[(int(seat), mark.partition(":")[0])] = mark
            self._secret_cursors.pop(inp.vote_id, None)
            return
        origin = getattr(inp, "origin", None)
        if origin is None:
            return
        where = (getattr(inp, "seat"), origin.partition(":")[0])  # noqa: B009
        self.origins[where] = origin
        for vote_id, touched in self._secret_cursors.items():
            if vote_id != secret_vote:
                touched.discard(where)
        if secret_vote is not None and type(inp) is VoteKeyPressed:
            self._secret_cursors[secret_vote].add(where)

    # --- secret ballots ------------------------------------------------------------------

    def _secret_vote(self) -> str | None:
        """The secret vote holding the keypads, if any."""
        vote = self.core.active_vote
        return vote.vote_id if vote is not None and vote.definition.secret else None

    def _sealed_record(self, vote_id: str, at: float) -> dict[str, Any] | None:
        """The chain's closing record of a secret vote: totals and participants, no choices.
        None for a cancelled vote (nothing to restore: its presses simply go)."""
        vote = self.core.votes.get(vote_id)
        result = vote.result if vote is not None else None
        if result is None:
            return None
        touched = self._secret_cursors.get(vote_id, set())
        cursors = tuple(f"{seat}={self.origins[(seat, kind)]}" for seat, kind in sorted(touched))
        return to_record(
            SecretVoteSealed(
                at=at,
                vote_id=vote_id,
                totals=result.totals,
                weighted_totals=result.weighted_totals,
                participants=result.participants,
                cursors=cursors,
            )
        )

    def _journal_items(self, inp: Input, secret_before: str | None) -> list[_JournalItem]:
        """What to journal for one accepted input, in order.

        A press while a secret vote holds the keypads (counted or not: even a refused key
        shows an intent) goes to the secret store, never to the chain. When a secret vote
        stops holding the keypads (closed, auto-closed or cancelled), it is sealed right after
        the input that ended it: the closing record joins the chain and the presses go.
        """
        items: list[_JournalItem] = []
        if secret_before is not None and type(inp) is VoteKeyPressed:
            items.append(_SecretPressItem(secret_before, inp))
        else:
            items.append(to_record(inp))
        return items + self._seal_items(secret_before, inp.at)

    def _seal_items(self, secret_before: str | None, at: float) -> list[_JournalItem]:
        """Create the key of a secret vote that just took the keypads; seal one that let go."""
        secret_after = self._secret_vote()
        if secret_after == secret_before:
            return []
        items: list[_JournalItem] = []
        if secret_before is not None:
            items.append(_SealItem(secret_before, self._sealed_record(secret_before, at)))
            self._secret_cursors.pop(secret_before, None)
        if secret_after is not None:
            items.append(_SecretOpenItem(secret_after))
        return items

    def _enqueue(self, writer: JournalWriter, item: _JournalItem) -> asyncio.Future[Any]:
        store = self.secret
        if isinstance(item, _SecretPressItem):
            p = item.press
            sealed = store.seal_press(item.vote_id, p.seat, p.key, p.at, p.origin)
            return writer.enqueue_secret(sealed)
        if isinstance(item, _SecretOpenItem):
            vote_id = item.vote_id
            return writer.enqueue_call(lambda: store.open_vote(vote_id))
        if isinstance(item, _SealItem):
            vote_id, closing = item.vote_id, item.closing
            return writer.enqueue_call(lambda: store.purge(vote_id, closing=closing))
        return writer.enqueue(item)

    async def _journal(self, writer: JournalWriter, items: list[_JournalItem]) -> None:
        """Make the batch durable; a failing disk is retried, never skipped."""
        delay = 0.05
        while True:
            try:
                # Enqueued here, in order: journal order is acceptance order.
                await asyncio.gather(*[self._enqueue(writer, item) for item in items])
                return
            except Exception:
                log.exception("journal commit failed; retrying", extra={"event": "journal-error"})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _dispatch(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, UnitCommand):
                targets = (
                    self.drivers if effect.seat is None else self._by_seat.get(effect.seat, [])
                )
                for driver in targets:
                    driver.send(effect)
            elif isinstance(effect, Chime):
                for driver in self.drivers:
                    if isinstance(driver, ChimeCapable):
                        driver.sound_chime(self._chair_seats)
            # What changed reaches the stream through the views (`hub.refresh`).
            elif isinstance(effect, Notification) and effect.topic == "press.rejected":
                log.info("press rejected", extra={"event": "press-rejected", **effect.data})
        self._tell_sitting()

    def _tell_sitting(self) -> None:
        """Tell the drivers that care (the microphone lines' heartbeat) whether a sitting is
        open, once when they start and then at each change."""
        sitting_open = self.core.sitting_open
        if sitting_open is self._sitting_told:
            return
        self._sitting_told = sitting_open
        for driver in self.drivers:
            if isinstance(driver, SittingAware):
                driver.sitting_changed(sitting_open)

    async def _supervise(self, driver: Driver) -> None:
        """Keep a driver running: one that fails is logged and restarted, never fatal."""
        delay = 0.5
        while True:
            try:
                await driver.run()
                log.error(
                    "driver %s stopped; restarting",
                    driver.name,
                    extra={"event": "driver-stopped", "driver": driver.name},
                )
            except Exception:
                log.exception(
                    "driver %s failed; restarting",
                    driver.name,
                    extra={"event": "driver-failed", "driver": driver.name},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _start_driver(self, driver: Driver) -> None:
        assert self._group is not None
        task = self._group.create_task(self._supervise(driver), name=f"driver:{driver.name}")
        self._driver_tasks[driver.name] = task

    def _refuse_while_released(self, inp: Input) -> None:
        """A vote or attendance cannot open while a line is released for commissioning: its
        seats' presses would have no driver to bring them in."""
        if self._released and isinstance(inp, (OpenVote, OpenAttendance)):
            raise CommandRejected("commission.line_released", line=min(self._released))

    def _vote_or_attendance_open(self) -> str | None:
        """What holds the units now: "vote" (open or on hold), "attendance", or None."""
        if self.core.active_vote is not None:
            return "vote"
        if self.core.attendance.registration_open:
            return "attendance"
        return None

    @contextlib.asynccontextmanager
    async def line_released(self, line_id: str) -> AsyncIterator[Line]:
        """Stop line `line_id`'s driver and hand the line to the caller (commissioning);
        when the block is left, a fresh driver for it from the drivers' table
        (`drivers.registry.LINE_DRIVERS`) serves the same seats as before, resumed from the
        journal's cursors and told what its units should show now. A line without seats
        has no driver, and gets none. Raises `LineHeld` while a vote or attendance is open
        (the line's presses would be lost), KeyError for a line the hall does not have."""
        line = next((ln for ln in self.config.lines if ln.id == line_id), None)
        if line is None:
            raise KeyError(line_id)
        held = self._vote_or_attendance_open()
        if held is not None:
            raise LineHeld(line_id, held)
        old = next((d for d in self.drivers if d.name == line_id), None)
        if old is not None:
            task = self._driver_tasks.pop(line_id, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.drivers.remove(old)
            for drivers in self._by_seat.values():
                if old in drivers:
                    drivers.remove(old)
        self._released.add(line_id)
        log.info(
            "line %s released for commissioning",
            line_id,
            extra={"event": "line-released", "line": line_id},
        )
        try:
            yield line
        finally:
            self._released.discard(line_id)
            if old is not None:
                self._restart_line(line)

    def _restart_line(self, line: Line) -> None:
        driver = LINE_DRIVERS[line.kind].from_config(
            self.config, line.id, self.clock, self.feed, self._on_health
        )
        self.drivers.append(driver)
        for seat in driver.seats:
            self._by_seat[seat].append(driver)
        if isinstance(driver, Resumable):
            driver.restore_origins(self.origins)
        if isinstance(driver, SittingAware) and self._sitting_told is not None:
            driver.sitting_changed(self._sitting_told)
        for effect in self.core.unit_state():
            if isinstance(effect, UnitCommand) and (
                effect.seat is None or effect.seat in driver.seats
            ):
                driver.send(effect)
        self._start_driver(driver)
        self._refresh_soon()
        log.info(
            "line %s back from commissioning",
            line.id,
            extra={"event": "line-restarted", "line": line.id},
        )

    def resync_units(self) -> None:
        """Send every unit what it should show now (after a replay or a reconnect)."""
        self._dispatch(self.core.unit_state())

    @property
    def backlog(self) -> int:
        """Inputs waiting for the core loop (with `stats.batches`, the service watchdog's
        reading of whether the loop keeps up)."""
        return self._inbox.qsize()

    async def run(self, extra: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()) -> None:
        """Replay, start the drivers and the core loop, and serve until cancelled."""
        replayed = self.replay()
        if isinstance(self.clock, ResumingClock):
            self.clock.resume_from(self.core.now)
        self.feed(ClockAnchor(at=self.clock.now(), unix=time.time()))
        log.info(
            "journal replayed",
            extra={
                "event": "replayed",
                "inputs": replayed,
                "seconds": round(self.stats.replay_s, 3),
            },
        )
        if self._driver_factory is not None:
            self.drivers = list(
                self._driver_factory(self.config, self.clock, self.feed, self._on_health)
            )
        for driver in self.drivers:
            for seat in driver.seats:
                self._by_seat[seat].append(driver)
            if isinstance(driver, Resumable):
                driver.restore_origins(self.origins)
        self.resync_units()
        self._core_changed()
        self.hub.refresh()
        try:
            writer = JournalWriter(self.journal, replicate=self.replicate)
            async with writer, asyncio.TaskGroup() as tg:
                tg.create_task(self._core_loop(writer), name="core")
                self._group = tg
                for driver in self.drivers:
                    self._start_driver(driver)
                for job in extra:
                    tg.create_task(job())
                self.started.set()
        finally:
            if self._refresh_handle is not None:
                self._refresh_handle.cancel()
                self._refresh_handle = None


async def serve_until_signalled(main: Awaitable[None]) -> None:
    """Run `main` until SIGINT or SIGTERM, then cancel it cleanly."""
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.ensure_future(main)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stopper.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
