"""A console that is live and says when it is not, against a real daemon.

- It draws from the stream's patches at a bounded rate, only the tab shown; the hidden tab is
  drawn when it comes up; tables change row by row, keeping the cursor on its row.
- The top line has the clock and the time since the daemon was last heard; past 2 s it is red
  and "Đã kết nối" is not said. The client's heartbeat keeps a quiet hall fresh.
- Every command shows that it is pending, then the daemon's answer (done or the refusal).
- Only the keys the vote's and the floor's state allow are offered; chair priority is F9, and
  the muted speaker is marked.
- Confirmations wrap, say what cannot be undone, and answer to "Đồng ý (y)" / "Quay lại (n)";
  q asks before quitting.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import random
from pathlib import Path

from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, DataTable, Label

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient, Link
from chamber.console.dialogs import ConfirmScreen
from chamber.console.mirror import SeatInfo
from chamber.console.seatmap import PRESENT, Colouring, SeatMap
from chamber.console.status import STALE_S, CommandLine, CommandState, LinkBar
from chamber.console.tables import TableSync
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import MicRequest, PresenceChanged
from chamber.controller.daemon import Daemon
from chamber.drivers.base import UnitHealth, UnitKind
from tests.console.conftest import Hall, HealthTap, panel_text, until_drawn, until_shown


class ManualClock:
    """The console's clock, moved by the test."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def wall() -> datetime.datetime:
    return datetime.datetime(2027, 3, 15, 8, 30, 5)


def painted(widget: Widget) -> str:
    """What the widget paints on the screen, its lines joined by spaces."""
    width, height = widget.size
    lines = widget.render_lines(Region(0, 0, width, height))
    return " ".join(" ".join(line.text.split()) for line in lines).strip()


def offered(app: ChamberConsole) -> set[str]:
    """The actions whose keys the footer offers now."""
    return {
        active.binding.action
        for active in app.screen.active_bindings.values()
        if active.binding.show and active.enabled
    }


async def until(client: ApiClient, predicate: object) -> None:
    async with asyncio.timeout(20):
        await client.wait_for(predicate)  # type: ignore[arg-type]


# --- drawing: bounded rate, only the tab shown, rows in place --------------------------------


async def test_patches_are_drawn_at_a_bounded_rate_and_only_on_the_tab_shown(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    tokens = TokenStore()
    token = tokens.add("chair", Role.CHAIR)
    tap = HealthTap()
    fake = FakeClock()
    async with Daemon(
        vn_config, tmp_path / "j", tokens, port=0, clock=fake, driver_factory=tap
    ) as daemon:
        assert tap.sink is not None
        client = ApiClient(daemon.url, token, clock=ManualClock())
        messages = 0

        def count() -> None:
            nonlocal messages
            messages += 1

        client.add_listener(count)
        app = ChamberConsole(client, clock=client.clock, wall=wall, max_redraws=10)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(client, lambda c: c.mirror.ready)
            await until_drawn(app, lambda: app.draws["vote"] >= 1, "the chair's tab")
            start_passes = app.passes
            # Health changes, unit by unit, while the chair's tab shows: many messages.
            for i in range(60):
                tap.sink(
                    UnitHealth("keypads-1", 1 + i % 3, 1 + i % 3, UnitKind.KEYPAD, True, 0.0, i)
                )
                daemon.runtime.feed(PresenceChanged(at=fake.now(), seat=1 + i % 40, present=True))
                await asyncio.sleep(0)  # let the stream flow between reports
            await until(client, lambda c: len(c.mirror.units()) == 3)
            await until(client, lambda c: c.mirror.attendance().present == 40)
            await until_shown(app, "#attendance", "40/50")
            passes = app.passes - start_passes
            assert messages > passes  # coalesced: fewer drawings than messages
            times = list(app.pass_times)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert gaps
            assert min(gaps) >= 0.1 * 0.99  # never more than 10 passes a second
            # The technician's tab was never drawn while hidden.
            assert app.draws["health"] == 0
            assert app.draws["tech-map"] == 0
            assert app.query_one("#units", DataTable).row_count == 0

            await pilot.press("f2")
            units = app.query_one("#units", DataTable)
            await until_drawn(app, lambda: units.row_count == 3, "the units' table")
            assert app.draws["health"] >= 1  # drawn once it shows
            # And the chair's tab waits now: a presence change draws no attendance panel.
            before = app.draws["attendance"]
            daemon.runtime.feed(PresenceChanged(at=fake.now(), seat=41, present=True))
            await until(client, lambda c: c.mirror.attendance().present == 41)
            await until_drawn(app, lambda: app.draws["tech-map"] >= 2, "the technician's map")
            assert app.draws["attendance"] == before
            await pilot.press("f1")
            await until_shown(app, "#attendance", "41/50")


async def test_unit_rows_change_in_place_and_the_cursor_stays_on_its_unit(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    tokens = TokenStore()
    token = tokens.add("technician", Role.TECHNICIAN)
    tap = HealthTap()
    async with Daemon(
        vn_config, tmp_path / "j", tokens, port=0, clock=FakeClock(), driver_factory=tap
    ) as daemon:
        assert tap.sink is not None
        for seat in (1, 3, 4):
            tap.sink(UnitHealth("keypads-1", seat, seat, UnitKind.KEYPAD, True, 0.0, 1.5))
        client = ApiClient(daemon.url, token, clock=ManualClock())
        app = ChamberConsole(client, clock=client.clock, wall=wall)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f2")
            units = app.query_one("#units", DataTable)
            await until_drawn(app, lambda: units.row_count == 3, "three units")
            units.focus()

            def order() -> list[str]:
                return [
                    str(units.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
                    for i in range(units.row_count)
                ]

            def under_cursor() -> str:
                return order()[units.cursor_row]

            await pilot.press(*["down"] * order().index("keypads-1/4"))
            assert under_cursor() == "keypads-1/4"
            sync = app.query_one("#tech").tables["units"]  # type: ignore[attr-defined]
            added = sync.rows_added

            # Unit 3 goes offline: its row changes in place (it may move up, the table sorts
            # by trouble), nothing is added or cleared, and the cursor stays on unit 4.
            tap.sink(UnitHealth("keypads-1", 3, 3, UnitKind.KEYPAD, False, 0.0, None, timeouts=4))
            await until_drawn(
                app,
                lambda: any(str(c) == "MẤT" for c in units.get_row("keypads-1/3")),
                "unit 3 offline",
            )
            assert sync.rows_added == added
            assert under_cursor() == "keypads-1/4"

            # Unit 2 is seen for the first time: it joins in its place, the cursor stays on
            # unit 4, and no table was cleared and filled again.
            tap.sink(UnitHealth("keypads-1", 2, 2, UnitKind.KEYPAD, True, 0.0, 1.1))
            await until_drawn(app, lambda: units.row_count == 4, "unit 2")
            assert sorted(order()) == ["keypads-1/1", "keypads-1/2", "keypads-1/3", "keypads-1/4"]
            assert sync.rows_added == added + 1
            assert under_cursor() == "keypads-1/4"
            assert app.query_one("#tech").selected_unit_seat() == 4  # type: ignore[attr-defined]


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(id="t", cursor_type="row")


async def test_table_sync_follows_any_sequence_of_row_sets() -> None:
    """Seeded random row sets (rows added, removed, changed, reordered): after each sync the
    table holds exactly those rows in that order, and the cursor stays on its row."""
    rng = random.Random(1212)
    app = _TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        sync = TableSync()
        for step in range(150):
            keys = rng.sample([f"u{i}" for i in range(12)], rng.randint(0, 12))
            rows = {
                k: (k, str(rng.randint(0, 3)), "x" if rng.random() < 0.5 else "y") for k in keys
            }
            before = None
            if table.row_count:
                before = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
            columns = ("a", "b", "c") if step < 100 else ("A", "B", "C")  # a language change
            sync.sync(table, columns, rows)
            await pilot.pause()
            shown = [
                table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value
                for i in range(table.row_count)
            ]
            assert shown == keys
            for key, cells in rows.items():
                assert tuple(table.get_row(key)) == cells
            if before is not None and before.value in rows and step != 100:
                at = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
                assert at == before
            if keys and rng.random() < 0.3:
                table.move_cursor(row=rng.randrange(len(keys)), animate=False)


# --- live, or saying it is not ----------------------------------------------------------------


async def test_last_update_turns_red_past_two_seconds_and_connected_is_not_said(
    hall: Hall,
) -> None:
    await hall.open_sitting()
    clock = ManualClock()
    # No heartbeat in this test: only stream messages say the daemon is there.
    client = ApiClient(hall.url, hall.chair, clock=clock, heartbeat_s=3600)
    app = ChamberConsole(client, clock=clock, wall=wall)
    async with app.run_test(size=(120, 40)):
        await until(client, lambda c: c.mirror.ready)
        await until_shown(app, "#link", "● Đã kết nối")
        bar = app.query_one(LinkBar)
        await until_drawn(app, lambda: "0,0 giây trước" in str(bar.render()), "fresh")
        assert "08:30:05" in str(bar.render())

        clock.t += STALE_S + 0.5  # nothing heard for 2.5 s
        text = await until_shown(app, "#link", "DỮ LIỆU CŨ")
        assert "Đã kết nối" not in text
        assert app.query_one("#link").has_class("down")
        assert "2,5 giây trước" in str(bar.render())
        assert bar.alarm  # the mark is red

        # A message from the daemon: fresh again.
        hall.arrive(range(1, 3))
        await until_shown(app, "#link", "● Đã kết nối")
        assert not app.query_one("#link").has_class("down")
        assert "0,0 giây trước" in str(bar.render())
        assert not bar.alarm


async def test_the_heartbeat_keeps_a_quiet_hall_fresh(hall: Hall) -> None:
    clock = ManualClock()
    client = ApiClient(hall.url, hall.chair, clock=clock, heartbeat_s=0.05)
    app = ChamberConsole(client, clock=clock, wall=wall)
    async with app.run_test(size=(120, 40)):
        await until(client, lambda c: c.link is Link.CONNECTED and c.mirror.ready)
        seq = client.mirror.seq
        clock.t += 60.0  # a minute with no change in the hall
        await until(client, lambda c: c.heard_at == clock.t)
        await until_shown(app, "#link", "● Đã kết nối")
        assert client.mirror.seq == seq  # no stream message: the ping's answer did it
        assert "0,0 giây trước" in str(app.query_one(LinkBar).render())


# --- commands: pending, then the answer ----------------------------------------------------------


async def test_each_command_shows_pending_then_the_daemons_answer(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=7))
    async with hall.http() as http:
        (
            await http.post("/api/votes", json={"vote_id": "v1", "title": "Tờ trình"})
        ).raise_for_status()
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client, wall=wall)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(client, lambda c: len(c.mirror.floor().waiting.get("speak", ())) == 1)
        await until_drawn(app, lambda: "open_vote" in offered(app), "the open key")
        line = app.query_one(CommandLine)

        await pilot.press("o", "y")
        await until(client, lambda c: c.mirror.votes()[0].state.value == "open")
        await until_drawn(app, lambda: len(line.history) == 2, "the answer")
        assert [(n.state, n.what) for n in line.history] == [
            (CommandState.PENDING, "Bắt đầu biểu quyết «Tờ trình»"),
            (CommandState.DONE, "Bắt đầu biểu quyết «Tờ trình»"),
        ]
        assert "✔ Đã thực hiện: Bắt đầu biểu quyết «Tờ trình»" in panel_text(app, "#command")

        await pilot.press("k")  # next: seat 7 gets the floor
        await until(client, lambda c: c.mirror.floor().live_seats == {7})
        # Grant seat 7 again: the daemon refuses, and its sentence is shown.
        await pilot.press("g")
        await pilot.pause()
        await pilot.press("backspace", "backspace", "7", "enter")
        await until_drawn(app, lambda: line.history[-1].state is CommandState.REFUSED, "refusal")
        assert line.history[-2].state is CommandState.PENDING
        assert line.history[-2].what == "Cho ghế 7 phát biểu"
        refusal = line.history[-1].detail
        assert refusal
        text = panel_text(app, "#command")
        assert "✖ Bị từ chối: Cho ghế 7 phát biểu" in text
        assert refusal in " ".join(text.split()) or refusal in text


# --- keys offered -------------------------------------------------------------------------------


async def test_only_the_keys_the_state_allows_are_offered(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client, wall=wall)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(client, lambda c: c.mirror.ready)
        await until_drawn(app, lambda: "priority" in offered(app), "the keys")
        keys = offered(app)
        assert "new_vote" not in keys  # no sitting open
        assert not keys & {"open_vote", "hold_vote", "close_vote", "cancel_vote", "publish_vote"}
        assert not keys & {"next_speaker", "revoke"}
        assert "quit_console" in keys

        await hall.open_sitting()
        hall.arrive(range(1, 31))
        await until_drawn(app, lambda: "new_vote" in offered(app), "n")
        async with hall.http() as http:
            (await http.post("/api/votes", json={"vote_id": "v1", "title": "A"})).raise_for_status()
        await until_drawn(app, lambda: "open_vote" in offered(app), "o")
        assert offered(app) & {"open_vote", "cancel_vote", "hold_vote", "close_vote"} == {
            "open_vote",
            "cancel_vote",
        }
        # A key not offered does nothing: p (publish) on a prepared vote sends nothing.
        await pilot.press("p")
        await pilot.pause()
        assert app.query_one(CommandLine).history == []
        assert not isinstance(app.screen, ConfirmScreen)

        await pilot.press("o", "y")
        await until_drawn(app, lambda: "close_vote" in offered(app), "c")
        assert offered(app) & {"open_vote", "hold_vote", "close_vote", "publish_vote"} == {
            "hold_vote",
            "close_vote",
        }
        await pilot.press("c", "y")
        await until_drawn(app, lambda: "publish_vote" in offered(app), "p")
        assert not offered(app) & {"open_vote", "hold_vote", "close_vote", "cancel_vote"}

        # The floor: next only with someone waiting, revoke only with someone speaking.
        hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=7))
        await until_drawn(app, lambda: "next_speaker" in offered(app), "k")
        assert "revoke" not in offered(app)
        await pilot.press("k")
        await until_drawn(app, lambda: "revoke" in offered(app), "r")
        assert "next_speaker" not in offered(app)

        # A dialog open: no command key is offered behind it.
        await pilot.press("g")
        await pilot.pause()
        assert not offered(app) & {"revoke", "priority", "new_vote"}
        await pilot.press("escape")


async def test_chair_priority_is_f9_and_the_muted_speaker_is_marked(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=7))
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client, wall=wall)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(client, lambda c: bool(c.mirror.floor().waiting.get("speak")))
        await pilot.press("k")
        await until(client, lambda c: c.mirror.floor().live_seats == {7})
        await pilot.press("y")  # y is a dialog's answer, not the priority key
        await pilot.pause()
        assert not client.mirror.floor().priority
        await pilot.press("f9")
        await until(client, lambda c: c.mirror.floor().priority)
        await until(client, lambda c: c.mirror.floor().live[0].muted)
        await until_shown(app, "#floor", "Ưu tiên chủ tọa", "7 Phan Công Quân  tắt tiếng")
        await pilot.press("f9")
        await until(client, lambda c: not c.mirror.floor().priority)
        text = await until_shown(app, "#floor", "▶   7 Phan Công Quân  còn")
        assert "tắt tiếng" not in text


# --- confirmations -------------------------------------------------------------------------------


async def test_a_confirmation_wraps_and_says_what_cannot_be_undone(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    title = "Nghị quyết về việc điều chỉnh kế hoạch đầu tư công trung hạn giai đoạn 2026–2030"
    async with hall.http() as http:
        (await http.post("/api/votes", json={"vote_id": "v1", "title": title})).raise_for_status()
        (await http.post("/api/votes/v1/open")).raise_for_status()
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client, wall=wall)
    async with app.run_test(size=(100, 40)) as pilot:
        await until_drawn(app, lambda: "cancel_vote" in offered(app), "x")
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        question = painted(dialog.query_one("#question", Label))
        assert question == f"Hủy biểu quyết «{title}»?"
        assert dialog.query_one("#question", Label).size.height >= 2  # it wrapped
        assert painted(dialog.query_one("#undo-title", Label)) == "Không thể hoàn tác:"
        undo = painted(dialog.query_one("#undo", Label))
        assert undo == (
            "Biểu quyết bị hủy cùng mọi phiếu đã bấm; không thể mở lại, chỉ có thể tạo biểu"
            " quyết mới."
        )
        buttons = [str(b.label) for b in dialog.query(Button)]
        assert buttons == ["Đồng ý (y)", "Quay lại (n)"]
        await pilot.press("n")  # back: nothing sent, the vote runs on
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert client.mirror.votes()[0].state.value == "open"
        assert app.query_one(CommandLine).history == []

        await pilot.press("c")  # the close says what it fixes for good, too
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert painted(app.screen.query_one("#undo", Label)).startswith("Không ai có thể bấm thêm")
        await pilot.press("escape")
        await pilot.pause()
        assert client.mirror.votes()[0].state.value == "open"


async def test_q_asks_before_quitting(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client, wall=wall)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(client, lambda c: c.mirror.ready)
        await pilot.press("q")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert painted(dialog.query_one("#question", Label)) == "Thoát bảng điều khiển?"
        assert "thoát bảng điều khiển là dừng cả phòng họp mô phỏng" in painted(
            dialog.query_one("#note", Label)
        )
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        assert app.return_code is None
        await pilot.press("ctrl+q")  # Ctrl-Q asks too
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert app.return_code == 0


async def test_the_seat_map_is_drawn_again_only_when_what_it_shows_changes(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 11))
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client, wall=wall)
    async with app.run_test(size=(120, 40)) as pilot:
        seatmap = app.query_one("#chair-map", SeatMap)
        await until_drawn(app, lambda: len(seatmap.data.present) == 10, "ten seats present")
        await pilot.pause()
        drawn = seatmap.renders
        assert seatmap.colouring is Colouring.PRESENCE
        # A vote prepared changes the map's data, not one cell of a map coloured by presence.
        async with hall.http() as http:
            (await http.post("/api/votes", json={"vote_id": "v1", "title": "A"})).raise_for_status()
        await until_shown(app, "#vote", "v1")
        await until_drawn(app, lambda: seatmap.data.vote is not None, "the vote in the map's data")
        await pilot.pause()
        assert seatmap.renders == drawn
        # A seat arriving does: the map is drawn again, with the seat present.
        hall.arrive(range(11, 12))
        await until_drawn(app, lambda: seatmap.renders > drawn, "the map drawn again")
        assert seatmap.style_of(hall_seat(seatmap, 11)) == PRESENT


def hall_seat(seatmap: SeatMap, number: int) -> SeatInfo:
    assert seatmap.data.hall is not None
    seat = seatmap.data.hall.seat(number)
    assert seat is not None
    return seat
