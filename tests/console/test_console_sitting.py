"""The chair runs a sitting from the console, against a real daemon: open and close it, the
agenda item, the roll call (điểm danh), a seat marked by hand with a reason, a delegate moved
to a spare seat, and the floor (a seat on a list, a longer turn, the microphone mode and cap,
all delegate microphones off, "next" that hands over, a microphone added)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, TextArea

from chamber.console.app import ChamberConsole, ConfirmScreen
from chamber.console.client import ApiClient
from chamber.console.seatmap import SeatMap
from chamber.console.sitting_dialogs import AgendaScreen, FormScreen, OpenSittingScreen
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import MicRequest, PresenceChanged
from chamber.controller.daemon import Daemon
from tests.console.conftest import VN_COUNCIL, Hall, until_drawn, until_shown

FROZEN = 1000.0


def frozen() -> float:
    return FROZEN


def chars(text: str) -> list[str]:
    """Keys that type `text` into a focused field."""
    return ["space" if ch == " " else ch for ch in text]


async def until(client: ApiClient, predicate: Callable[[ApiClient], bool]) -> None:
    async with asyncio.timeout(20):
        await client.wait_for(predicate)


async def on_screen(pilot: Pilot[None], kind: type) -> None:
    """Wait (bounded, event-driven through the pilot) until the screen shown is a `kind`."""
    async with asyncio.timeout(20):
        while not isinstance(pilot.app.screen, kind):
            await pilot.pause()


async def type_into(pilot: Pilot[None], selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.value = ""
    field.focus()
    await pilot.press(*chars(text))


def state(client: ApiClient) -> dict[str, Any]:
    return client.mirror.state


def roll(client: ApiClient) -> dict[str, Any]:
    registration: dict[str, Any] = state(client)["attendance"]["registration"]
    return registration


@pytest.fixture
async def spare_hall(tmp_path: Path) -> AsyncIterator[Hall]:
    """The council's hall with one spare seat (51, no delegate) for a delegate to move to."""
    toml = tmp_path / "hall.toml"
    toml.write_text(
        VN_COUNCIL.read_text(encoding="utf-8")
        + "\n[[seats]]\nnumber = 51\nrow = 6\ncol = 1\nip = true\n",
        encoding="utf-8",
    )
    config = load_config(toml)
    tokens = TokenStore()
    chair = tokens.add("chair", Role.CHAIR)
    technician = tokens.add("technician", Role.TECHNICIAN)
    clock = FakeClock()
    journal = tmp_path / "hall.journal"
    async with Daemon(config, journal, tokens, port=0, clock=clock) as daemon:
        yield Hall(config, tokens, chair, technician, clock, journal, daemon)


async def test_the_chair_opens_a_sitting_chooses_an_item_and_closes_it(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(client, lambda c: c.mirror.ready)
        await pilot.press("s")
        await on_screen(pilot, OpenSittingScreen)
        assert app.screen.query_one("#sitting-id", Input).value == "ky-hop-1"
        await type_into(pilot, "#sitting-title", "Kỳ họp thứ mười hai")
        agenda = app.screen.query_one("#agenda", TextArea)
        agenda.text = "Nghị quyết về ngân sách tỉnh\nMiễn nhiệm đại biểu"
        app.screen.query_one("#sitting-title", Input).focus()
        await pilot.press("enter")
        await until(client, lambda c: c.mirror.sitting().open)
        sitting = client.mirror.sitting()
        assert (sitting.sitting_id, sitting.title) == ("ky-hop-1", "Kỳ họp thứ mười hai")
        assert sitting.item_id == "1"

        # j: the agenda, the current item marked; down and Enter make the second current.
        await pilot.press("j")
        await on_screen(pilot, AgendaScreen)
        await pilot.press("down", "enter")
        await until(client, lambda c: c.mirror.sitting().item_id == "2")
        await until_shown(app, "#sitting", "Miễn nhiệm đại biểu")

        # While a vote holds the keypads, s (close), j (item) and w (move) are not offered.
        async with hall.http() as http:
            made = await http.post(
                "/api/votes", json={"vote_id": "v1", "title": "Thử", "quorum_required": False}
            )
            assert made.is_success, made.text
            assert (await http.post("/api/votes/v1/open", json={})).is_success
        await until(client, lambda c: c.mirror.state.get("active_vote") == "v1")
        for action in ("close_sitting", "choose_item", "move_seat"):
            assert app.check_action(action, ()) is False, action
        async with hall.http() as http:
            assert (await http.post("/api/votes/v1/cancel", json={})).is_success
        await until(client, lambda c: c.mirror.state.get("active_vote") is None)

        # s now closes, and asks first: n goes back, y closes.
        await pilot.press("s")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert client.mirror.sitting().open
        await pilot.press("s")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await until(client, lambda c: not c.mirror.sitting().open)
    await client.close()


async def test_the_chair_takes_a_roll_call_and_marks_a_seat_by_hand(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(client, lambda c: c.mirror.attendance().present == 30)
        await pilot.press("d")
        await until(client, lambda c: bool(roll(c).get("open")))
        await until_shown(app, "#attendance", "ĐANG ĐIỂM DANH", "0/50 đã xác nhận")
        # Delegates confirm on their units: those seated press once (the key toggles off).
        for seat in (4, 5, 6):
            hall.daemon.runtime.feed(PresenceChanged(at=hall.clock.now(), seat=seat, present=False))
        await until(client, lambda c: len(roll(c)["registered"]) == 3)
        names = {d.id: d.name for d in hall.config.hall.delegates}
        given = [names[f"d{seat:04d}"].split()[-1] for seat in (4, 5, 6)]
        await until_shown(app, "#attendance", "3/50 đã xác nhận", *given)

        # e: seat 40 is marked present by hand, with its reason; that confirms it too.
        await pilot.press("e")
        await on_screen(pilot, FormScreen)
        await type_into(pilot, "#seat", "40")
        await type_into(pilot, "#reason", "Thẻ đại biểu bị hỏng")
        await pilot.press("enter")
        await until(client, lambda c: 40 in c.mirror.attendance().present_seats)
        await until(client, lambda c: len(roll(c)["registered"]) == 4)

        # A mark of absence asks first (it changes the quorum); without a reason it is not sent.
        await pilot.press("e")
        await on_screen(pilot, FormScreen)
        await type_into(pilot, "#seat", "7")
        app.screen.query_one("#state", Select).value = "absent"
        await type_into(pilot, "#reason", "")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        await type_into(pilot, "#reason", "Vắng có phép")
        await pilot.press("enter")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await until(client, lambda c: 7 not in c.mirror.attendance().present_seats)

        # d ends it, after asking; the result is in the view and the journal.
        await pilot.press("d")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await until(client, lambda c: not roll(c).get("open"))
        (done,) = state(client)["attendance"]["registrations"]
        assert done["count"] == 4
        assert done["roll_call"] is True
        marks = state(client)["attendance"]["marks"]
        assert [(m["seat"], m["present"], m["reason"]) for m in marks] == [
            (40, True, "Thẻ đại biểu bị hỏng"),
            (7, False, "Vắng có phép"),
        ]
        await until_shown(app, "#attendance", "Điểm danh lần 1: 4 đã xác nhận")
    await client.close()


async def test_the_chair_moves_a_delegate_to_a_spare_seat(spare_hall: Hall) -> None:
    hall = spare_hall
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(client, lambda c: c.mirror.attendance().present == 30)
        await pilot.press("w")
        await on_screen(pilot, FormScreen)
        await type_into(pilot, "#from", "12")
        await type_into(pilot, "#to", "51")
        await type_into(pilot, "#reason", "Bàn phím ghế 12 hỏng")
        await pilot.press("enter")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await until(client, lambda c: 51 in c.mirror.attendance().present_seats)
        attendance = state(client)["attendance"]
        assert 12 not in attendance["present_seats"]
        assert attendance["seating"] == {"12": None, "51": "d0012"}
        (move,) = attendance["moves"]
        assert (move["from_seat"], move["to_seat"], move["reason"]) == (
            12,
            51,
            "Bàn phím ghế 12 hỏng",
        )
        # The delegate asks for the floor from the spare seat: the floor panel names them there.
        name = next(d.name for d in hall.config.hall.delegates if d.id == "d0012")
        hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=51))
        await until_shown(app, "#floor", f" 51 {name}")
        # The seat map shows the delegate's given name at the new seat, none at the old one.
        given = name.split()[-1]
        seat_map = app.query_one("#chair-map", SeatMap)

        def names_shown() -> dict[int, str]:
            shown = seat_map.data.hall
            return {s.number: s.name for s in shown.seats} if shown is not None else {}

        await until_drawn(app, lambda: names_shown().get(51, "").endswith(given), "seat 51")
        assert names_shown()[12] == ""
    await client.close()


async def test_the_chair_runs_the_floor_from_the_keys(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)

    def live(c: ApiClient) -> list[int]:
        return sorted(s.seat for s in c.mirror.floor().live)

    async with app.run_test(size=(130, 44)) as pilot:
        await until(client, lambda c: c.mirror.attendance().present == 30)
        # b: seats 20, 21 and 22 on the lists (21 to question).
        for seat, on in ((20, "speak"), (21, "question"), (22, "speak")):
            await pilot.press("b")
            await on_screen(pilot, FormScreen)
            await type_into(pilot, "#seat", str(seat))
            app.screen.query_one("#list", Select).value = on
            app.screen.query_one("#seat", Input).focus()
            await pilot.press("enter")
            await until(
                client,
                lambda c, seat=seat: seat in c.mirror.floor().waiting_seats,  # type: ignore[misc]
            )
        # F3: the mode stays "request", the cap goes to 3.
        await pilot.press("f3")
        await on_screen(pilot, FormScreen)
        await type_into(pilot, "#cap", "3")
        await pilot.press("enter")
        await until(client, lambda c: state(c)["floor"]["caps"]["max_open"] == 3)

        # k hands over (the question list first), + adds one beside it.
        await pilot.press("k")
        await until(client, lambda c: live(c) == [21])
        await pilot.press("plus")
        await until(client, lambda c: live(c) == [20, 21])
        hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=23))
        await until(client, lambda c: 23 in c.mirror.floor().waiting_seats)
        # k again: both live microphones close, the next one (22) opens.
        await pilot.press("k")
        await until(client, lambda c: live(c) == [22])

        # f: seat 22 gets 90 s more.
        before = next(s for s in client.mirror.floor().live if s.seat == 22).limit_s
        assert before is not None
        await pilot.press("f")
        await on_screen(pilot, FormScreen)
        assert app.screen.query_one("#seat", Input).value == "22"
        await type_into(pilot, "#seconds", "90")
        await pilot.press("enter")
        await until(
            client,
            lambda c: any(s.seat == 22 and s.limit_s == before + 90 for s in c.mirror.floor().live),
        )

        # 0: every delegate microphone off, after asking.
        await pilot.press("plus")
        await until(client, lambda c: live(c) == [22, 23])
        await pilot.press("0")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await until(client, lambda c: live(c) == [])
        # The chair's own microphone is not a delegate's: with only it live, 0 is not offered.
        hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=1))
        await until(client, lambda c: live(c) == [1])
        assert app.check_action("all_mics_off", ()) is False
        await pilot.press("0")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    await client.close()
