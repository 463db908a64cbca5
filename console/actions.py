"""The console's commands: each key's action, its confirmation, and the daemon's answer.

`ConsoleActions` is the part of the app that sends: every action reads the client's mirror,
asks what it must ask (a dialog, a confirmation before an irreversible step) and sends one API
command. What the daemon refuses is shown in its own words. The app (console/app.py) adds the
screen, the stream and the tabs on top.
"""

from __future__ import annotations

from collections.abc import Awaitable

from textual import work
from textual.app import App
from textual.binding import Binding

from chamber.console.client import ApiClient, ApiError
from chamber.console.dialogs import ConfirmScreen, NewVoteScreen, SeatScreen
from chamber.console.i18n import Lang, label
from chamber.console.mirror import VoteState, VoteView
from chamber.console.technician import TechnicianPane

CHAIR_ACTIONS = frozenset(
    {"new_vote", "open_vote", "hold_vote", "close_vote", "cancel_vote", "publish_vote"}
    | {"next_speaker", "grant", "revoke", "priority"}
)
TECH_ACTIONS = frozenset({"mic_on", "mic_off"})


class ConsoleActions(App[None]):
    """The commands of the console, one action per key."""

    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        Binding("n", "new_vote", "New vote"),
        Binding("o", "open_vote", "Open"),
        Binding("h", "hold_vote", "Hold/Resume"),
        Binding("c", "close_vote", "Close"),
        Binding("x", "cancel_vote", "Cancel"),
        Binding("p", "publish_vote", "Publish"),
        Binding("k", "next_speaker", "Next"),
        Binding("g", "grant", "Grant"),
        Binding("r", "revoke", "Revoke"),
        Binding("y", "priority", "Priority"),
        Binding("m", "mic_on", "Mic on"),
        Binding("u", "mic_off", "Mic off"),
    ]

    client: ApiClient
    lang: Lang

    async def _send(self, command: Awaitable[object]) -> bool:
        try:
            await command
        except ApiError as exc:
            self.notify(exc.detail, title=label("error", self.lang), severity="error")
            return False
        except OSError as exc:
            self.notify(str(exc), title=label("error", self.lang), severity="error")
            return False
        except Exception as exc:  # an HTTP library error: the link line says the rest
            self.notify(f"{type(exc).__name__}: {exc}", severity="error")
            return False
        return True

    async def _confirm(self, key: str, **fields: object) -> bool:
        answer = await self.push_screen_wait(
            ConfirmScreen(label(key, self.lang, **fields), self.lang)
        )
        return bool(answer)

    def _vote(self) -> VoteView | None:
        vote = self.client.mirror.current_vote()
        if vote is None:
            self.notify(label("vote.none", self.lang), severity="warning")
        return vote

    @work(exclusive=True, group="command")
    async def action_new_vote(self) -> None:
        spec = await self.push_screen_wait(NewVoteScreen(self.lang))
        if spec is None:
            return
        # The daemon names the vote; the stream brings it to the screen.
        await self._send(
            self.client.create_vote(spec.title, secret=spec.secret, duration_s=spec.duration_s)
        )

    async def _vote_step(self, step: str, confirm: str | None) -> None:
        vote = self._vote()
        if vote is None:
            return
        if confirm is not None and not await self._confirm(confirm, title=vote.title):
            return
        await self._send(self.client.vote_step(vote.vote_id, step))

    @work(exclusive=True, group="command")
    async def action_open_vote(self) -> None:
        await self._vote_step("open", "confirm.open")

    @work(exclusive=True, group="command")
    async def action_hold_vote(self) -> None:
        vote = self._vote()
        if vote is not None:
            step = "resume" if vote.state is VoteState.HOLD else "hold"
            await self._send(self.client.vote_step(vote.vote_id, step))

    @work(exclusive=True, group="command")
    async def action_close_vote(self) -> None:
        await self._vote_step("close", "confirm.close")

    @work(exclusive=True, group="command")
    async def action_cancel_vote(self) -> None:
        await self._vote_step("cancel", "confirm.cancel")

    @work(exclusive=True, group="command")
    async def action_publish_vote(self) -> None:
        await self._vote_step("publish", "confirm.publish")

    @work(exclusive=True, group="command")
    async def action_next_speaker(self) -> None:
        await self._send(self.client.grant_next())

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
            await self._send(self.client.grant(seat))

    @work(exclusive=True, group="command")
    async def action_revoke(self) -> None:
        live = self.client.mirror.floor().live
        seat = await self._ask_seat("seat.prompt.revoke", live[0].seat if live else None)
        if seat is not None and await self._confirm("confirm.revoke", seat=seat):
            await self._send(self.client.revoke(seat))

    @work(exclusive=True, group="command")
    async def action_priority(self) -> None:
        await self._send(self.client.priority(not self.client.mirror.floor().priority))

    @work(exclusive=True, group="command")
    async def action_mic_on(self) -> None:
        seat = await self._ask_seat("seat.prompt.mic_on", self._selected_unit_seat())
        if seat is not None:
            await self._send(self.client.mic_override(seat, True))

    @work(exclusive=True, group="command")
    async def action_mic_off(self) -> None:
        seat = await self._ask_seat("seat.prompt.mic_off", self._selected_unit_seat())
        if seat is not None:
            await self._send(self.client.mic_override(seat, False))

    def _selected_unit_seat(self) -> int | None:
        return self.query_one(TechnicianPane).selected_unit_seat()
