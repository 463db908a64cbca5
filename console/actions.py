"""The console's commands: each key's action, its confirmation, and the daemon's answer.

`ConsoleActions` is the part of the app that sends: every action reads the client's mirror,
asks what it must ask (a dialog, a confirmation before an irreversible step) and sends one API
command. What the daemon refuses is shown in its own words. The app (console/app.py) adds the
screen, the stream and the tabs on top.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches

from chamber.console.client import ApiClient, ApiError
from chamber.console.dialogs import ConfirmScreen, NewVoteScreen, SeatScreen
from chamber.console.i18n import Lang, label
from chamber.console.mirror import VoteState, VoteView
from chamber.console.status import CommandLine, CommandNote, CommandState
from chamber.console.technician import IDENTIFY_S, TechnicianPane
from chamber.console.vote_dialogs import AnnulScreen, ManualResultScreen, NewVote, VoteChoices

CHAIR_ACTIONS = frozenset(
    {"new_vote", "open_vote", "hold_vote", "close_vote", "cancel_vote", "publish_vote"}
    | {"annul_vote", "rerun_vote", "manual_result"}
    | {"next_speaker", "grant", "revoke", "priority"}
    # The sitting's and the floor's keys of console/sitting.py.
    | {"open_sitting", "close_sitting", "choose_item", "start_roll_call", "end_roll_call"}
    | {"mark_presence", "move_seat"}
    | {"add_to_list", "extend_turn", "mic_mode", "all_mics_off", "add_mic"}
    # A sitting prepared in advance, console/prepared.py.
    | {"load_sitting", "next_vote"}
)
TECH_ACTIONS = frozenset({"mic_on", "mic_off", "ack_fault", "identify"})

# The label of each action's key in the footer (an action not named here: "key.<action>").
FOOTER_LABELS: dict[str, str] = {
    "new_vote": "key.new",
    "open_vote": "key.open",
    "hold_vote": "key.hold",
    "close_vote": "key.close",
    "cancel_vote": "key.cancel",
    "publish_vote": "key.publish",
    "annul_vote": "key.annul",
    "rerun_vote": "key.rerun",
    "manual_result": "key.manual",
    "next_speaker": "key.next",
    "grant": "key.grant",
    "revoke": "key.revoke",
    "priority": "key.priority",
    "mic_on": "key.mic_on",
    "mic_off": "key.mic_off",
    "ack_fault": "key.ack_fault",
    "identify": "key.identify",
    "colour": "key.colour",
    "quit_console": "key.quit",
}

# The vote's states in which each vote key does something (the daemon's life cycle: any other
# step is refused, so the key is not offered).
VOTE_STEPS: dict[str, frozenset[VoteState]] = {
    "open_vote": frozenset({VoteState.PREPARED}),
    "hold_vote": frozenset({VoteState.OPEN, VoteState.HOLD}),
    "close_vote": frozenset({VoteState.OPEN, VoteState.HOLD}),
    "cancel_vote": frozenset({VoteState.PREPARED, VoteState.OPEN, VoteState.HOLD}),
    "publish_vote": frozenset({VoteState.CLOSED}),
    # When the system fails during a vote: annul it (hủy kết quả), run it again, or enter a
    # result taken by show of hands or on paper for a prepared vote.
    "annul_vote": frozenset(
        {VoteState.OPEN, VoteState.HOLD, VoteState.CLOSED, VoteState.PUBLISHED}
    ),
    "rerun_vote": frozenset({VoteState.ANNULLED}),
    "manual_result": frozenset({VoteState.PREPARED}),
}


class ConsoleActions(App[None]):
    """The commands of the console, one action per key."""

    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        Binding("n", "new_vote", "New vote"),
        Binding("o", "open_vote", "Open"),
        Binding("h", "hold_vote", "Hold/Resume"),
        Binding("c", "close_vote", "Close"),
        Binding("x", "cancel_vote", "Cancel"),
        Binding("p", "publish_vote", "Publish"),
        Binding("z", "annul_vote", "Annul"),
        Binding("l", "rerun_vote", "Rerun"),
        Binding("t", "manual_result", "By hand"),
        Binding("k", "next_speaker", "Next"),
        Binding("g", "grant", "Grant"),
        Binding("r", "revoke", "Revoke"),
        # Chair priority sits on a key that no dialog uses (every dialog answers y and n).
        Binding("f9", "priority", "Priority"),
        Binding("m", "mic_on", "Mic on"),
        Binding("u", "mic_off", "Mic off"),
        Binding("a", "ack_fault", "Seen"),
        Binding("i", "identify", "Identify"),
        Binding("q", "quit_console", "Quit"),
        Binding("ctrl+q", "quit_console", "Quit", show=False, priority=True),
    ]

    client: ApiClient
    lang: Lang

    # --- which keys the state allows ---------------------------------------------------------

    def state_allows(self, action: str) -> bool:
        """Whether `action` can do anything in the hall's state as the mirror holds it (an
        action this does not know is always allowed)."""
        m = self.client.mirror
        if action == "new_vote":
            return m.ready and m.sitting().open
        if action in VOTE_STEPS:
            vote = m.current_vote() if m.ready else None
            return vote is not None and vote.state in VOTE_STEPS[action]
        if action == "next_speaker":
            return m.ready and any(m.floor().waiting.values())
        if action == "revoke":
            return m.ready and bool(m.floor().live)
        if action in {"grant", "priority", "mic_on", "mic_off"}:
            return m.ready
        if action == "ack_fault":
            return m.ready and any(not f.acknowledged for f in m.triage().faults)
        if action == "identify":
            return m.ready and bool(m.units())
        return True

    # --- sending -----------------------------------------------------------------------------

    def _command_line(self) -> CommandLine:
        return self.query_one(CommandLine)

    async def _send(self, command: Awaitable[object], what: str | None = None) -> bool:
        """Send one command: the command line says it is pending, then the daemon's answer
        (done, or its refusal). True if the daemon took it.

        The request runs on by itself if the key's worker is cancelled (another key was
        pressed): its answer is still shown."""
        what = what or label("cmd.generic", self.lang)
        self._command_line().note(CommandNote(what, CommandState.PENDING))
        task: asyncio.Future[object] = asyncio.ensure_future(command)
        task.add_done_callback(lambda done: self._answered(what, done))
        try:
            await asyncio.shield(task)
        except Exception:  # told by _answered
            return False
        return True

    def _answered(self, what: str, task: asyncio.Future[object]) -> None:
        # An answer that comes after the console closed has nobody to tell.
        with contextlib.suppress(NoMatches):
            self._show_answer(what, task)

    def _show_answer(self, what: str, task: asyncio.Future[object]) -> None:
        if task.cancelled():
            self._command_line().note(CommandNote(what, CommandState.FAILED, "—"))
            return
        exc = task.exception()
        line = self._command_line()
        if exc is None:
            line.note(CommandNote(what, CommandState.DONE))
            return
        if isinstance(exc, ApiError):
            refusal = exc.text(self.lang)
            line.note(CommandNote(what, CommandState.REFUSED, refusal))
            self.notify(refusal, title=label("error", self.lang), severity="error")
        elif isinstance(exc, OSError):
            line.note(CommandNote(what, CommandState.FAILED, str(exc)))
            self.notify(str(exc), title=label("error", self.lang), severity="error")
        else:  # an HTTP library error: the link line says the rest
            detail = f"{type(exc).__name__}: {exc}"
            line.note(CommandNote(what, CommandState.FAILED, detail))
            self.notify(detail, severity="error")

    async def _confirm(self, key: str, **fields: object) -> bool:
        """Ask the question `key`, with what cannot be undone (`key`.undo) or what else
        happens (`key`.note), when the labels have them."""
        lang = self.lang
        undo = label(f"{key}.undo", lang, **fields)
        note = label(f"{key}.note", lang, **fields)
        answer = await self.push_screen_wait(
            ConfirmScreen(
                label(key, lang, **fields),
                lang,
                undo="" if undo == f"{key}.undo" else undo,
                note="" if note == f"{key}.note" else note,
            )
        )
        return bool(answer)

    def _vote(self) -> VoteView | None:
        vote = self.client.mirror.current_vote()
        if vote is None:
            self.notify(label("vote.none", self.lang), severity="warning")
        return vote

    # --- the vote ----------------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_new_vote(self) -> None:
        # The kinds, the rules and what each needs now, as the daemon says; without them (an
        # older daemon, a refusal) the dialog asks only for the title, mode and duration.
        try:
            hall = await self.client.hall_info()
        except (ApiError, OSError):
            choices = None
        else:
            choices = VoteChoices.from_json(hall, self.client.mirror.state, self.lang)
        spec = await self.push_screen_wait(NewVoteScreen(self.lang, choices))
        if spec is None:
            return
        # The daemon names the vote; the stream brings it to the screen.
        await self._send(self._prepare(spec), label("cmd.new", self.lang, title=spec.title))

    async def _prepare(self, spec: NewVote) -> None:
        """Prepare the vote, then show the daemon's warnings (its rule or mode is not its
        kind's) in the hall's words."""
        reply = await self.client.prepare_vote(spec.body())
        for warning in reply.get("warnings") or []:
            if isinstance(warning, dict):
                self.notify(
                    str(warning.get("text") or warning.get("code")),
                    title=label("vote.warning", self.lang),
                    severity="warning",
                    timeout=15,
                )

    @work(exclusive=True, group="command")
    async def action_annul_vote(self) -> None:
        vote = self._vote()
        if vote is None:
            return
        reason = await self.push_screen_wait(AnnulScreen(self.lang, vote.title))
        if reason is None:
            return
        await self._send(
            self.client.annul_vote(vote.vote_id, reason),
            label("cmd.annul", self.lang, title=vote.title),
        )

    @work(exclusive=True, group="command")
    async def action_rerun_vote(self) -> None:
        vote = self._vote()
        if vote is None or not await self._confirm("confirm.rerun", title=vote.title):
            return
        await self._send(
            self.client.rerun_vote(vote.vote_id), label("cmd.rerun", self.lang, title=vote.title)
        )

    @work(exclusive=True, group="command")
    async def action_manual_result(self) -> None:
        vote = self._vote()
        if vote is None:
            return
        entered = await self.push_screen_wait(
            ManualResultScreen(self.lang, vote.title, vote.options)
        )
        if entered is None:
            return
        await self._send(
            self.client.manual_result(
                vote.vote_id, entered.method, entered.totals, entered.present
            ),
            label("cmd.manual", self.lang, title=vote.title),
        )

    async def _vote_step(self, step: str, confirm: str | None) -> None:
        vote = self._vote()
        if vote is None:
            return
        if confirm is not None and not await self._confirm(confirm, title=vote.title):
            return
        await self._send(
            self.client.vote_step(vote.vote_id, step),
            label(f"cmd.{step}", self.lang, title=vote.title),
        )

    @work(exclusive=True, group="command")
    async def action_open_vote(self) -> None:
        await self._vote_step("open", "confirm.open")

    @work(exclusive=True, group="command")
    async def action_hold_vote(self) -> None:
        vote = self._vote()
        if vote is not None:
            await self._vote_step("resume" if vote.state is VoteState.HOLD else "hold", None)

    @work(exclusive=True, group="command")
    async def action_close_vote(self) -> None:
        await self._vote_step("close", "confirm.close")

    @work(exclusive=True, group="command")
    async def action_cancel_vote(self) -> None:
        await self._vote_step("cancel", "confirm.cancel")

    @work(exclusive=True, group="command")
    async def action_publish_vote(self) -> None:
        await self._vote_step("publish", "confirm.publish")

    # --- the floor ---------------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_next_speaker(self) -> None:
        await self._send(self.client.grant_next(), label("cmd.next", self.lang))

    def _known_seats(self) -> frozenset[int]:
        hall = self.client.hall
        return frozenset(s.number for s in hall.seats) if hall is not None else frozenset()

    async def _ask_seat(self, prompt: str, default: int | None) -> int | None:
        return await self.push_screen_wait(
            SeatScreen(label(prompt, self.lang), self.lang, self._known_seats(), default)
        )

    @work(exclusive=True, group="command")
    async def action_grant(self) -> None:
        floor = self.client.mirror.floor()
        first = next((ws[0].seat for ws in floor.waiting.values() if ws), None)
        seat = await self._ask_seat("seat.prompt.grant", first)
        if seat is not None:
            await self._send(self.client.grant(seat), label("cmd.grant", self.lang, seat=seat))

    @work(exclusive=True, group="command")
    async def action_revoke(self) -> None:
        live = self.client.mirror.floor().live
        seat = await self._ask_seat("seat.prompt.revoke", live[0].seat if live else None)
        if seat is not None and await self._confirm("confirm.revoke", seat=seat):
            await self._send(self.client.revoke(seat), label("cmd.revoke", self.lang, seat=seat))

    @work(exclusive=True, group="command")
    async def action_priority(self) -> None:
        held = not self.client.mirror.floor().priority
        what = label("cmd.priority.on" if held else "cmd.priority.off", self.lang)
        await self._send(self.client.priority(held), what)

    # --- the technician ----------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_mic_on(self) -> None:
        seat = await self._ask_seat("seat.prompt.mic_on", self._selected_unit_seat())
        if seat is not None:
            await self._send(
                self.client.mic_override(seat, True), label("cmd.mic_on", self.lang, seat=seat)
            )

    @work(exclusive=True, group="command")
    async def action_mic_off(self) -> None:
        seat = await self._ask_seat("seat.prompt.mic_off", self._selected_unit_seat())
        if seat is not None:
            await self._send(
                self.client.mic_override(seat, False), label("cmd.mic_off", self.lang, seat=seat)
            )

    def _selected_unit_seat(self) -> int | None:
        return self.query_one(TechnicianPane).selected_unit_seat()

    @work(exclusive=True, group="command")
    async def action_ack_fault(self) -> None:
        """The fault under the cursor is seen: it stays, dimmed, until it clears."""
        fault = self.query_one(TechnicianPane).selected_fault()
        if fault is None:
            self.notify(label("fault.none_selected", self.lang), severity="warning")
            return
        where = fault.line if fault.address is None else f"{fault.line}/{fault.address}"
        what = f"{where} {label(f'fault.{fault.kind}', self.lang)}"
        await self._send(
            self.client.ack_fault(fault.id), label("cmd.ack_fault", self.lang, fault=what)
        )

    @work(exclusive=True, group="command")
    async def action_identify(self) -> None:
        """The unit under the cursor blinks its LEDs or ring for a while: the daemon says
        whether it took it, or why not (an older unit cannot)."""
        unit = self.query_one(TechnicianPane).selected_unit()
        if unit is None:
            self.notify(label("unit.none_selected", self.lang), severity="warning")
            return
        what = label(
            "cmd.identify",
            self.lang,
            unit=unit.key,
            seat=unit.seat,
            seconds=IDENTIFY_S,
        )
        await self._send(self.client.identify(unit.line, unit.address, IDENTIFY_S), what)

    # --- leaving -----------------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_quit_console(self) -> None:
        """q (and Ctrl-Q) ask first: in the demo the console's end is the hall's end."""
        if await self._confirm("confirm.quit"):
            self.exit()
