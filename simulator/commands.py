"""A line-command console for a running simulated hall: delegates and faults by hand.

Operator training and demos need to make things happen in the hall: a delegate presses a
key, everyone arrives, a vote is cast within a second, a unit goes silent, a line is
unplugged. `chamber sim` reads these commands from its standard input; tests call `execute`.

    press SEAT KEY            arrive SEAT|all          leave SEAT|all
    request SEAT              cancel SEAT
    vote [within=S] [no_press=F] [change=F] [1=W 2=W 3=W ...]   (keys and their weights)
    silent|crc UNIT [off]     slow UNIT SECONDS        clear [UNIT]
    reboot SEAT [keypad|mic]  unplug LINE              replug LINE        noise LINE [BYTES]
    duplicate SEAT            replay SEAT [BACK]       restart-broker
    truth [since=T]           help

UNIT is `LINE/ADDRESS` (one unit), `LINE` (every unit of a line) or `seat:N` (that seat's
keypad, or its IP unit). Each command returns one line of text; a bad command returns an
error line and changes nothing.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import replace

from chamber.drivers.topology import UnitRef
from chamber.simulator.delegates import Action, ActionKind, PresenceScript, VoteScript
from chamber.simulator.hall import SimulatedHall, SimulatorError

HELP = (__doc__ or "").split("\n\n")[2].strip("\n")


class CommandError(ValueError):
    """A command that cannot be carried out; the message says why."""


class Commands:
    """Parses and carries out console commands against one hall."""

    def __init__(self, hall: SimulatedHall) -> None:
        self.hall = hall
        self._background: set[asyncio.Task[object]] = set()
        self._table: dict[str, Callable[[list[str]], Awaitable[str]]] = {
            "press": self._press,
            "arrive": self._arrive,
            "leave": self._leave,
            "request": self._request,
            "cancel": self._cancel,
            "vote": self._vote,
            "silent": self._silent,
            "crc": self._crc,
            "slow": self._slow,
            "clear": self._clear,
            "reboot": self._reboot,
            "unplug": self._unplug,
            "noise": self._noise,
            "replug": self._replug,
            "duplicate": self._duplicate,
            "replay": self._replay,
            "restart-broker": self._restart_broker,
            "truth": self._truth,
            "help": self._help,
        }

    async def execute(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"error: {exc}"
        if not words:
            return ""
        handler = self._table.get(words[0])
        if handler is None:
            return f"error: unknown command {words[0]!r} (try: help)"
        try:
            return await handler(words[1:])
        except (CommandError, SimulatorError, KeyError, ValueError) as exc:
            return f"error: {exc}"

    async def wait(self) -> None:
        """Wait for the scripts started in the background (a `vote`) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background))

    # --- parsing helpers -------------------------------------------------------------------

    @staticmethod
    def _int(text: str, what: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise CommandError(f"{what} must be a whole number, not {text!r}") from None

    def _seat(self, args: list[str], at: int = 0) -> int:
        if len(args) <= at:
            raise CommandError("a seat number is needed")
        seat = self._int(args[at], "seat")
        if seat not in self.hall.seats:
            raise CommandError(f"no seat {seat}")
        return seat

    def _seats(self, args: list[str]) -> list[int]:
        if args and args[0] == "all":
            return self.hall.seats
        return [self._seat(args)]

    def _unit(self, text: str) -> UnitRef | str:
        if text.startswith("seat:"):
            return self.hall.unit_ref(self._int(text[5:], "seat"))
        line, sep, address = text.partition("/")
        known = {ln.id for ln in self.hall.config.lines}
        if line not in known:
            raise CommandError(f"no line {line!r} (lines: {', '.join(sorted(known)) or 'none'})")
        return UnitRef(line, self._int(address, "address")) if sep else line

    @staticmethod
    def _options(args: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for arg in args:
            key, sep, value = arg.partition("=")
            if not sep:
                raise CommandError(f"expected NAME=VALUE, got {arg!r}")
            out[key] = value
        return out

    # --- delegates -------------------------------------------------------------------------

    async def _press(self, args: list[str]) -> str:
        if len(args) != 2:
            raise CommandError("usage: press SEAT KEY")
        press = self.hall.press(self._seat(args), self._int(args[1], "key"))
        verdict = "refused (locked or inactive key)" if press.refused else f"seq {press.seq}"
        return f"seat {press.seat} pressed key {press.key}: {verdict}"

    async def _presence(self, args: list[str], present: bool) -> str:
        seats = self._seats(args)
        if len(seats) == 1:
            press = self.hall.set_presence(seats[0], present)
            return f"seat {seats[0]}: {'no change' if press is None else press.kind.value}"
        script = PresenceScript(arrive_within_s=1.0)
        plan = script.plan(seats, self.hall.rng)
        if not present:
            plan = [Action(a.after_s, a.seat, ActionKind.DEPART) for a in plan]
        self._spawn(self.hall.perform(plan))
        return f"{len(plan)} delegates {'arriving' if present else 'leaving'} within 1 s"

    async def _arrive(self, args: list[str]) -> str:
        return await self._presence(args, True)

    async def _leave(self, args: list[str]) -> str:
        return await self._presence(args, False)

    async def _request(self, args: list[str]) -> str:
        press = self.hall.mic_request(self._seat(args))
        return f"seat {press.seat} requested the floor (seq {press.seq})"

    async def _cancel(self, args: list[str]) -> str:
        press = self.hall.mic_cancel(self._seat(args))
        return f"seat {press.seat} cancelled (seq {press.seq})"

    async def _vote(self, args: list[str]) -> str:
        options = self._options(args)
        weights = {self._int(k, "key"): float(v) for k, v in options.items() if k.isdigit()} or None
        script = VoteScript(
            within_s=float(options.get("within", "1.0")),
            no_press=float(options.get("no_press", "0")),
            change=float(options.get("change", "0")),
        )
        if weights:
            script = replace(script, distribution=weights)
        plan = script.plan(self.hall.seats, self.hall.rng)
        self._spawn(self.hall.perform(plan))
        return f"{len(plan)} presses planned within {script.within_s:g} s"

    def _spawn(self, work: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- faults ----------------------------------------------------------------------------

    async def _silent(self, args: list[str]) -> str:
        if not args:
            raise CommandError("usage: silent UNIT [off]")
        on = not (len(args) > 1 and args[1] == "off")
        self.hall.faults.silence(self._unit(args[0]), on)
        return f"{args[0]}: {'silent' if on else 'answering'}"

    async def _crc(self, args: list[str]) -> str:
        if not args:
            raise CommandError("usage: crc UNIT [off]")
        on = not (len(args) > 1 and args[1] == "off")
        self.hall.faults.corrupt(self._unit(args[0]), on)
        return f"{args[0]}: {'bad CRC on every reply' if on else 'good CRC'}"

    async def _slow(self, args: list[str]) -> str:
        if len(args) != 2:
            raise CommandError("usage: slow UNIT SECONDS")
        self.hall.faults.slow(self._unit(args[0]), float(args[1]))
        return f"{args[0]}: replies {float(args[1]):g} s late"

    async def _clear(self, args: list[str]) -> str:
        self.hall.faults.clear(self._unit(args[0]) if args else None)
        return f"faults cleared on {args[0] if args else 'every unit'}"

    async def _reboot(self, args: list[str]) -> str:
        unit = args[1] if len(args) > 1 else "keypad"
        self.hall.reboot(self._seat(args), unit)
        return f"seat {args[0]}: {unit} restarted"

    async def _unplug(self, args: list[str]) -> str:
        if len(args) != 1:
            raise CommandError("usage: unplug LINE")
        await self.hall.unplug(args[0])
        return f"{args[0]}: unplugged"

    async def _noise(self, args: list[str]) -> str:
        if not 1 <= len(args) <= 2:
            raise CommandError("usage: noise LINE [BYTES]")
        length = self._int(args[1], "bytes") if len(args) == 2 else 16
        self.hall.noise(args[0], length)
        return f"{args[0]}: {length} bytes of noise"

    async def _replug(self, args: list[str]) -> str:
        if len(args) != 1:
            raise CommandError("usage: replug LINE")
        await self.hall.replug(args[0])
        return f"{args[0]}: plugged back in"

    async def _duplicate(self, args: list[str]) -> str:
        done = self.hall.duplicate(self._seat(args))
        return f"seat {args[0]}: {'last press published again' if done else 'nothing to repeat'}"

    async def _replay(self, args: list[str]) -> str:
        back = self._int(args[1], "back") if len(args) > 1 else 1
        done = self.hall.replay(self._seat(args), back)
        return f"seat {args[0]}: {'old press replayed' if done else 'no press that old'}"

    async def _restart_broker(self, args: list[str]) -> str:
        await self.hall.restart_broker()
        return "broker restarted; every IP unit is back"

    # --- reports ---------------------------------------------------------------------------

    async def _truth(self, args: list[str]) -> str:
        options = self._options(args)
        since = float(options["since"]) if "since" in options else None
        expected = self.hall.truth.expected(since=since)
        totals = ", ".join(f"key {k}: {n}" for k, n in expected.totals.items()) or "no votes"
        return f"{len(self.hall.truth)} presses; {expected.voted} seats voted; {totals}"

    async def _help(self, args: list[str]) -> str:
        return HELP
