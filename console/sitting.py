"""The chair's keys for running a sitting: open and close it, the agenda item, the roll call
(điểm danh), a seat marked present or absent by hand, a delegate moved to a spare seat, and
the floor (a seat on a list, a longer turn, the microphone mode and cap, all delegate
microphones off, a microphone added beside those live).

`SittingActions` adds these actions to the console's commands (`ConsoleActions`): each asks
what it must (a form, and the confirmation before a step that cannot be undone), sends one API
command and shows the daemon's answer on the command line. The labels are registered in the
console's table (`console.i18n.LABELS`) when this module is imported.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.binding import Binding

from chamber.console.actions import ConsoleActions
from chamber.console.i18n import LABELS, label
from chamber.console.seating import moved_seats
from chamber.console.sitting_dialogs import (
    AgendaScreen,
    Field,
    FormScreen,
    OpenSittingScreen,
    SittingSpec,
    number_check,
    required,
    seat_check,
)

# The actions of this module: on the chair's tab only (console/actions.py, CHAIR_ACTIONS).
SITTING_ACTIONS = frozenset(
    {"open_sitting", "close_sitting", "choose_item", "start_roll_call", "end_roll_call"}
    | {"mark_presence", "move_seat"}
    | {"add_to_list", "extend_turn", "mic_mode", "all_mics_off", "add_mic"}
)

SPEAKER_LISTS = tuple((name, f"sit.list.{name}") for name in ("speak", "question", "reply"))
MIC_MODES = tuple(
    (mode, f"sit.mode.{mode}") for mode in ("open", "request", "override", "voice", "push-to-talk")
)
PRESENCE_STATES = (("present", "sit.presence.present"), ("absent", "sit.presence.absent"))
EXTEND_S = "60"

# key -> (Vietnamese, English)
SITTING_LABELS: dict[str, tuple[str, str]] = {
    "key.open_sitting": ("Khai mạc", "Open sitting"),
    "key.close_sitting": ("Bế mạc", "Close sitting"),
    "key.choose_item": ("Nội dung", "Agenda item"),
    "key.start_roll_call": ("Điểm danh", "Roll call"),
    "key.end_roll_call": ("Kết thúc điểm danh", "End roll call"),
    "key.mark_presence": ("Có mặt/Vắng", "Present/absent"),
    "key.move_seat": ("Đổi chỗ", "Move seat"),
    "key.add_to_list": ("Đăng ký", "Put on list"),
    "key.extend_turn": ("Thêm giờ", "Extend"),
    "key.mic_mode": ("Chế độ micrô", "Mic mode"),
    "key.all_mics_off": ("Tắt hết micrô", "All mics off"),
    "key.add_mic": ("Thêm micrô", "Add mic"),
    "sit.form.required": ("Cần điền mục này.", "This is needed."),
    "sit.form.number": ("Cần một số hợp lệ.", "A valid number is needed."),
    "sit.open.question": ("Khai mạc kỳ họp", "Open a sitting"),
    "sit.open.id": ("Mã kỳ họp", "Sitting id"),
    "sit.open.title": ("Tên kỳ họp", "Title"),
    "sit.open.agenda": (
        "Chương trình (mỗi dòng một nội dung)",
        "Agenda (one item a line)",
    ),
    "sit.open.missing": ("Cần mã và tên kỳ họp.", "The sitting needs an id and a title."),
    "sit.open.do": ("Khai mạc", "Open"),
    "sit.confirm.close": ("Bế mạc kỳ họp «{title}»?", "Close the sitting “{title}”?"),
    "sit.confirm.close.undo": (
        "Kỳ họp kết thúc và được ghi vào biên bản; không thể mở lại kỳ họp này, không thể thêm"
        " biểu quyết hay phát biểu vào đó.",
        "The sitting ends and goes into the minutes; it cannot be opened again, and no vote or"
        " speech can be added to it.",
    ),
    "sit.item.question": ("Chọn nội dung đang thảo luận", "Choose the current agenda item"),
    "sit.item.none": ("Kỳ họp chưa có chương trình.", "The sitting has no agenda."),
    "sit.confirm.item": (
        "Chuyển sang nội dung «{title}»?",
        "Move on to the item “{title}”?",
    ),
    "sit.confirm.item.note": (
        "Micrô của đại biểu đang phát biểu sẽ tắt; mỗi nội dung có danh sách đăng ký phát biểu"
        " riêng.",
        "The delegates' live microphones switch off; each item keeps its own speakers' lists.",
    ),
    "sit.confirm.end_roll": ("Kết thúc điểm danh?", "End the roll call?"),
    "sit.confirm.end_roll.undo": (
        "Kết quả điểm danh ({count} đại biểu đã xác nhận) được ghi vào nhật ký và biên bản; đại"
        " biểu chưa xác nhận không thể xác nhận thêm trong lần điểm danh này.",
        "The roll call's result ({count} delegates confirmed) goes into the journal and the"
        " minutes; a delegate who has not confirmed cannot do so in this roll call any more.",
    ),
    "sit.roll.open": ("ĐANG ĐIỂM DANH", "ROLL CALL"),
    "sit.roll.confirmed": ("đã xác nhận", "confirmed"),
    "sit.roll.last": ("Điểm danh lần {number}", "Roll call {number}"),
    "sit.presence.question": (
        "Ghi nhận có mặt hoặc vắng mặt (ghi vào biên bản)",
        "Mark a seat present or absent (for the minutes)",
    ),
    "sit.presence.seat": ("Ghế số", "Seat"),
    "sit.presence.state": ("Ghi nhận", "Mark as"),
    "sit.presence.present": ("Có mặt", "Present"),
    "sit.presence.absent": ("Vắng mặt", "Absent"),
    "sit.presence.reason": ("Lý do", "Reason"),
    "sit.presence.do": ("Ghi nhận", "Mark"),
    "sit.confirm.absent": (
        "Ghi nhận ghế {seat} ({name}) vắng mặt?",
        "Mark seat {seat} ({name}) absent?",
    ),
    "sit.confirm.absent.undo": (
        "Việc ghi nhận và lý do «{reason}» được lưu vào nhật ký và biên bản; bàn phím của ghế bị"
        " khóa trong biểu quyết đang mở.",
        "The mark and its reason “{reason}” go into the journal and the minutes; the seat's"
        " keypad is locked in a vote that is open.",
    ),
    "sit.move.question": (
        "Chuyển đại biểu sang ghế trống",
        "Move a delegate to a spare seat",
    ),
    "sit.move.from": ("Từ ghế số", "From seat"),
    "sit.move.to": ("Sang ghế trống số", "To spare seat"),
    "sit.move.do": ("Chuyển", "Move"),
    "sit.confirm.move": (
        "Chuyển {name} từ ghế {from_seat} sang ghế {to_seat}?",
        "Move {name} from seat {from_seat} to seat {to_seat}?",
    ),
    "sit.confirm.move.undo": (
        "Từ giờ, có mặt, phát biểu và biểu quyết của đại biểu được tính ở ghế {to_seat}; ghế"
        " {from_seat} không còn đại biểu. Việc chuyển chỗ và lý do được ghi vào biên bản.",
        "From now on the delegate's presence, speeches and votes are counted at seat {to_seat};"
        " seat {from_seat} has no delegate. The move and its reason go into the minutes.",
    ),
    "sit.list.question_text": ("Đăng ký phát biểu cho một ghế", "Put a seat on a list"),
    "sit.list.list": ("Danh sách", "List"),
    "sit.list.speak": ("Đăng ký phát biểu", "To speak"),
    "sit.list.question": ("Chất vấn", "To question"),
    "sit.list.reply": ("Tranh luận", "To reply"),
    "sit.list.do": ("Đăng ký", "Put on list"),
    "sit.extend.question": ("Thêm thời gian phát biểu", "Give a speaker more time"),
    "sit.extend.seconds": ("Thêm (giây)", "More (seconds)"),
    "sit.extend.do": ("Thêm giờ", "Extend"),
    "sit.extend.none": ("Không có ai đang phát biểu.", "Nobody is speaking."),
    "sit.mode.question": ("Chế độ micrô", "Microphone mode"),
    "sit.mode.mode": ("Chế độ", "Mode"),
    "sit.mode.cap": ("Số micrô đại biểu mở cùng lúc tối đa", "Delegate microphones open at most"),
    "sit.mode.do": ("Áp dụng", "Apply"),
    "sit.mode.open": ("Tự do (bấm là nói, quá số thì chờ)", "Open (press to talk, then wait)"),
    "sit.mode.request": ("Đăng ký (chủ tọa cho phát biểu)", "Request (the chair grants)"),
    "sit.mode.override": ("Thay thế (người mới tắt người cũ)", "Override (newest replaces)"),
    "sit.mode.voice": ("Theo giọng nói", "Voice activated"),
    "sit.mode.push-to-talk": ("Giữ để nói", "Push to talk"),
    "sit.confirm.mode.note": (
        "Nếu số micrô tối đa thấp hơn số đang mở, micrô mở lâu nhất sẽ tắt.",
        "If the cap is below the number open, the microphones open longest switch off.",
    ),
    "sit.confirm.all_off": ("Tắt micrô của mọi đại biểu?", "Switch off every delegate's mic?"),
    "sit.confirm.all_off.undo": (
        "Mọi lượt phát biểu của đại biểu kết thúc và được ghi lại ({count} micrô); micrô của chủ"
        " tọa và micrô do kỹ thuật viên bật vẫn mở.",
        "Every delegate's turn ends and is recorded ({count} microphones); the chair's and those"
        " the technician forced on stay on.",
    ),
    "sit.cmd.open": ("Khai mạc «{title}»", "Open “{title}”"),
    "sit.cmd.close": ("Bế mạc kỳ họp", "Close the sitting"),
    "sit.cmd.item": ("Chuyển nội dung «{title}»", "Item “{title}”"),
    "sit.cmd.roll.start": ("Bắt đầu điểm danh", "Start the roll call"),
    "sit.cmd.roll.end": ("Kết thúc điểm danh", "End the roll call"),
    "sit.cmd.present": ("Ghế {seat} có mặt", "Seat {seat} present"),
    "sit.cmd.absent": ("Ghế {seat} vắng mặt", "Seat {seat} absent"),
    "sit.cmd.move": ("Chuyển ghế {from_seat} → {to_seat}", "Move seat {from_seat} → {to_seat}"),
    "sit.cmd.list": ("Đăng ký ghế {seat}", "Seat {seat} on the list"),
    "sit.cmd.extend": ("Thêm {seconds} giây cho ghế {seat}", "{seconds} s more for seat {seat}"),
    "sit.cmd.mode": ("Chế độ micrô", "Microphone mode"),
    "sit.cmd.all_off": ("Tắt hết micrô đại biểu", "All delegate mics off"),
    "sit.cmd.add_mic": ("Thêm micrô", "Add a microphone"),
}
LABELS.update(SITTING_LABELS)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def registration(state: dict[str, Any]) -> dict[str, Any]:
    """The attendance registration as the daemon's view has it (empty when none is open)."""
    return _dict(_dict(state.get("attendance")).get("registration"))


def agenda(state: dict[str, Any]) -> list[tuple[str, str]]:
    items = _dict(state.get("sitting")).get("agenda")
    out: list[tuple[str, str]] = []
    for item in items if isinstance(items, list) else []:
        item = _dict(item)
        if isinstance(item.get("id"), str):
            out.append((item["id"], str(item.get("title", ""))))
    return out


class SittingActions(ConsoleActions):
    """The sitting's and the floor's keys (see the module docstring; keys: docs/operator.md)."""

    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        # One key each for the pairs: the state decides which of the two it is.
        Binding("s", "open_sitting", "Open sitting"),
        Binding("s", "close_sitting", "Close sitting"),
        Binding("j", "choose_item", "Agenda item"),
        Binding("d", "start_roll_call", "Roll call"),
        Binding("d", "end_roll_call", "End roll call"),
        Binding("e", "mark_presence", "Present/absent"),
        Binding("w", "move_seat", "Move seat"),
        Binding("b", "add_to_list", "Put on list"),
        Binding("f", "extend_turn", "Extend"),
        Binding("f3", "mic_mode", "Mic mode"),
        Binding("0", "all_mics_off", "All mics off"),
        Binding("plus", "add_mic", "Add mic"),
    ]

    # --- which keys the state allows ---------------------------------------------------------

    def state_allows(self, action: str) -> bool:
        if action not in SITTING_ACTIONS:
            return super().state_allows(action)
        m = self.client.mirror
        if not m.ready:
            return False
        sitting = m.sitting()
        if action == "open_sitting":
            return not sitting.open
        if not sitting.open:
            return False
        roll = registration(m.state)
        floor = m.floor()
        # While a vote holds the keypads the daemon refuses to close the sitting, to change
        # the item and to move a delegate: those keys wait for the vote's end.
        voting = m.state.get("active_vote") is not None
        match action:
            case "close_sitting" | "move_seat":
                return not voting
            case "mark_presence" | "add_to_list" | "mic_mode":
                return True
            case "choose_item":
                return bool(agenda(m.state)) and not voting
            case "start_roll_call":
                return not roll.get("open")
            case "end_roll_call":
                return bool(roll.get("open"))
            case "extend_turn":
                return any(s.limit_s is not None for s in floor.live)
            case "all_mics_off":
                # Not the chair's microphone: "all off" leaves it on.
                hall = self.client.hall
                chair = {s.number for s in hall.seats if s.mic_class == "chair"} if hall else set()
                return any(s.seat not in chair for s in floor.live)
            case "add_mic":
                return any(floor.waiting.values())
        return True

    # --- helpers -----------------------------------------------------------------------------

    def _seats(self) -> frozenset[int]:
        hall = self.client.hall
        return frozenset(s.number for s in hall.seats) if hall is not None else frozenset()

    def _delegate_name(self, seat: int) -> str:
        """Who sits at `seat` now (the hall's chart, with the moves the daemon reports)."""
        hall = self.client.hall
        if hall is None:
            return ""
        moved = moved_seats(self.client.mirror.state)
        if seat in moved:
            delegate = moved[seat]
            return hall.names.get(delegate, delegate) if delegate is not None else ""
        info = hall.seat(seat)
        return info.name if info is not None else ""

    async def _form(
        self, question: str, fields: list[Field], do: str, undo: str = ""
    ) -> dict[str, str] | None:
        lang = self.lang
        return await self.push_screen_wait(
            FormScreen(label(question, lang), lang, fields, do=label(do, lang), undo=undo)
        )

    # --- the sitting -------------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_open_sitting(self) -> None:
        history = _dict(self.client.mirror.state).get("sittings")
        number = (len(history) if isinstance(history, list) else 0) + 1
        spec: SittingSpec | None = await self.push_screen_wait(
            OpenSittingScreen(self.lang, f"ky-hop-{number}")
        )
        if spec is None:
            return
        await self._send(
            self.client.open_sitting(spec.body()),
            label("sit.cmd.open", self.lang, title=spec.title),
        )

    @work(exclusive=True, group="command")
    async def action_close_sitting(self) -> None:
        title = self.client.mirror.sitting().title
        if not await self._confirm("sit.confirm.close", title=title):
            return
        await self._send(self.client.close_sitting(), label("sit.cmd.close", self.lang))

    @work(exclusive=True, group="command")
    async def action_choose_item(self) -> None:
        items = agenda(self.client.mirror.state)
        if not items:
            self.notify(label("sit.item.none", self.lang), severity="warning")
            return
        current = self.client.mirror.sitting().item_id
        item_id = await self.push_screen_wait(AgendaScreen(self.lang, items, current))
        if item_id is None or item_id == current:
            return
        title = dict(items).get(item_id, item_id)
        if self.client.mirror.floor().live and not await self._confirm(
            "sit.confirm.item", title=title
        ):
            return
        await self._send(
            self.client.set_item(item_id), label("sit.cmd.item", self.lang, title=title)
        )

    # --- attendance --------------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_start_roll_call(self) -> None:
        await self._send(self.client.roll_call(True), label("sit.cmd.roll.start", self.lang))

    @work(exclusive=True, group="command")
    async def action_end_roll_call(self) -> None:
        registered = registration(self.client.mirror.state).get("registered")
        count = len(registered) if isinstance(registered, list) else 0
        if not await self._confirm("sit.confirm.end_roll", count=count):
            return
        await self._send(self.client.roll_call(False), label("sit.cmd.roll.end", self.lang))

    @work(exclusive=True, group="command")
    async def action_mark_presence(self) -> None:
        present = self.client.mirror.attendance().present_seats
        seats = self._seats()
        absent = sorted(s for s in seats if s not in present and self._delegate_name(s))
        values = await self._form(
            "sit.presence.question",
            [
                Field(
                    "seat",
                    "sit.presence.seat",
                    str(absent[0]) if absent else "",
                    seat_check(seats),
                ),
                Field(
                    "state",
                    "sit.presence.state",
                    "present",
                    choices=(
                        ("present", "sit.presence.present"),
                        ("absent", "sit.presence.absent"),
                    ),
                ),
                Field("reason", "sit.presence.reason", "", required),
            ],
            "sit.presence.do",
        )
        if values is None:
            return
        seat, reason = int(values["seat"]), values["reason"]
        is_present = values["state"] == "present"
        if not is_present and not await self._confirm(
            "sit.confirm.absent", seat=seat, name=self._delegate_name(seat), reason=reason
        ):
            return
        what = label("sit.cmd.present" if is_present else "sit.cmd.absent", self.lang, seat=seat)
        await self._send(self.client.set_presence(seat, is_present, reason), what)

    @work(exclusive=True, group="command")
    async def action_move_seat(self) -> None:
        seats = self._seats()
        values = await self._form(
            "sit.move.question",
            [
                Field("from", "sit.move.from", "", seat_check(seats)),
                Field("to", "sit.move.to", "", seat_check(seats)),
                Field("reason", "sit.presence.reason", "", required),
            ],
            "sit.move.do",
        )
        if values is None:
            return
        from_seat, to_seat = int(values["from"]), int(values["to"])
        fields = {"from_seat": from_seat, "to_seat": to_seat}
        name = self._delegate_name(from_seat) or str(from_seat)
        if not await self._confirm("sit.confirm.move", name=name, **fields):
            return
        await self._send(
            self.client.move_delegate(from_seat, to_seat, values["reason"]),
            label("sit.cmd.move", self.lang, **fields),
        )

    # --- the floor ---------------------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_add_to_list(self) -> None:
        values = await self._form(
            "sit.list.question_text",
            [
                Field("seat", "sit.presence.seat", "", seat_check(self._seats())),
                Field("list", "sit.list.list", "speak", choices=SPEAKER_LISTS),
            ],
            "sit.list.do",
        )
        if values is None:
            return
        seat = int(values["seat"])
        await self._send(
            self.client.register_speaker(seat, values["list"]),
            label("sit.cmd.list", self.lang, seat=seat),
        )

    @work(exclusive=True, group="command")
    async def action_extend_turn(self) -> None:
        timed = [s.seat for s in self.client.mirror.floor().live if s.limit_s is not None]
        if not timed:
            self.notify(label("sit.extend.none", self.lang), severity="warning")
            return
        values = await self._form(
            "sit.extend.question",
            [
                Field("seat", "sit.presence.seat", str(timed[0]), seat_check(self._seats())),
                Field("seconds", "sit.extend.seconds", EXTEND_S, number_check(1, 3600)),
            ],
            "sit.extend.do",
        )
        if values is None:
            return
        seat, seconds = int(values["seat"]), float(values["seconds"])
        await self._send(
            self.client.extend_turn(seat, seconds),
            label("sit.cmd.extend", self.lang, seat=seat, seconds=f"{seconds:g}"),
        )

    @work(exclusive=True, group="command")
    async def action_mic_mode(self) -> None:
        floor = _dict(self.client.mirror.state.get("floor"))
        cap = _dict(floor.get("caps")).get("max_open")
        values = await self._form(
            "sit.mode.question",
            [
                Field("mode", "sit.mode.mode", str(floor.get("mode") or "open"), choices=MIC_MODES),
                Field("cap", "sit.mode.cap", "" if cap is None else str(cap), number_check(1, 99)),
            ],
            "sit.mode.do",
            undo=label("sit.confirm.mode.note", self.lang),
        )
        if values is None:
            return
        await self._send(
            self.client.mic_mode(values["mode"], int(float(values["cap"]))),
            label("sit.cmd.mode", self.lang),
        )

    @work(exclusive=True, group="command")
    async def action_all_mics_off(self) -> None:
        count = len(self.client.mirror.floor().live)
        if not await self._confirm("sit.confirm.all_off", count=count):
            return
        await self._send(self.client.revoke(None), label("sit.cmd.all_off", self.lang))

    @work(exclusive=True, group="command")
    async def action_add_mic(self) -> None:
        await self._send(self.client.add_mic(), label("sit.cmd.add_mic", self.lang))
