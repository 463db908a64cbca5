"""The chair's and the secretary's keys for a sitting prepared in advance: load a sitting file
(F4), and open the next prepared vote (F5).

F4 asks for the file's path, reads it here (the console runs on the operator's machine, where
the file is), has the daemon check it (`POST /api/sitting/load` with `check`), shows what the
load would do, and loads it once confirmed. F5 opens the vote the daemon names as the next
prepared one (the sitting's `next_vote`: agenda order from the current item), moving the
current item to the vote's; as the `o` key does, it asks first, with the vote's title and item.
The daemon refuses what cannot be done (a vote already open, no quorum) in its own words.
Ad-hoc votes (`n`) stay as they were.

`PreparedActions` adds these to the sitting's keys (`SittingActions`); its labels are in the
console's table (`console.i18n.LABELS`) once this module is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual import work
from textual.binding import Binding

from chamber.console.i18n import LABELS, Lang, label
from chamber.console.sitting import SittingActions, agenda
from chamber.console.sitting_dialogs import Field, FormScreen, required

# The actions of this module: on the chair's tab only (console/actions.py, CHAIR_ACTIONS).
PREPARED_ACTIONS = frozenset({"load_sitting", "next_vote"})
# The largest sitting file read (the daemon takes 200 KiB).
MAX_FILE_BYTES = 200 * 1024

# key -> (Vietnamese, English)
PREPARED_LABELS: dict[str, tuple[str, str]] = {
    "key.load_sitting": ("Tải kỳ họp", "Load sitting"),
    "key.next_vote": ("BQ tiếp theo", "Next vote"),
    "prep.load.question": ("Tải tệp kỳ họp chuẩn bị sẵn", "Load a prepared sitting file"),
    "prep.load.path": ("Đường dẫn tệp (.toml hoặc .json)", "The file's path (.toml or .json)"),
    "prep.load.do": ("Kiểm tra tệp", "Check the file"),
    "prep.load.unreadable": ("Không đọc được tệp {path}: {error}", "Cannot read {path}: {error}"),
    "prep.load.too_large": (
        "Tệp {path} lớn hơn {kib} KiB: không phải tệp kỳ họp.",
        "{path} is larger than {kib} KiB: not a sitting file.",
    ),
    "prep.load.nothing": (
        "Kỳ họp {sitting} đã có đủ các biểu quyết của tệp; không có gì để tải.",
        "Sitting {sitting} has every vote of the file already; nothing to load.",
    ),
    "prep.confirm.load": (
        "Khai mạc kỳ họp {sitting} với {items} nội dung và {count} biểu quyết chuẩn bị sẵn?",
        "Open sitting {sitting} with {items} agenda items and {count} prepared votes?",
    ),
    "prep.confirm.load.note": (
        "Kỳ họp, chương trình và các biểu quyết được ghi vào nhật ký; biểu quyết chỉ mở khi chủ"
        " tọa mở (phím F5 mở biểu quyết tiếp theo).{warnings}",
        "The sitting, its agenda and its votes go into the journal; a vote opens only when the"
        " chair opens it (F5 opens the next one).{warnings}",
    ),
    "prep.confirm.complete": (
        "Kỳ họp {sitting} đang diễn ra: chuẩn bị thêm {count} biểu quyết của tệp?",
        "Sitting {sitting} is open: prepare the file's {count} votes it lacks?",
    ),
    "prep.confirm.complete.note": (
        "{kept} biểu quyết đã có được giữ nguyên.{warnings}",
        "The {kept} votes already there stay as they are.{warnings}",
    ),
    "prep.warnings": ("\nLưu ý: {lines}", "\nWarnings: {lines}"),
    "prep.cmd.load": ("Tải kỳ họp {sitting}", "Load sitting {sitting}"),
    "prep.cmd.check": ("Kiểm tra tệp {name}", "Check {name}"),
    "prep.confirm.next": ("Bắt đầu biểu quyết «{title}»?", "Open the vote “{title}”?"),
    "prep.confirm.next.undo": (
        "{item}Bàn phím của đại biểu mở khóa và mọi phiếu bấm được ghi lại; biểu quyết đã mở"
        " không thể trở về trạng thái chuẩn bị, chỉ có thể kết thúc hoặc hủy.",
        "{item}The delegates' keypads unlock and every press is recorded; an open vote cannot"
        " go back to prepared, only be closed or cancelled.",
    ),
    "prep.next.item": (
        "Chuyển sang nội dung «{title}» (micrô của đại biểu đang phát biểu sẽ tắt). ",
        "The sitting moves on to the item “{title}” (the delegates' live microphones switch off). ",
    ),
    "prep.next.same_item": ("Nội dung «{title}». ", "Item “{title}”. "),
    "prep.cmd.next": ("Mở biểu quyết {vote}", "Open vote {vote}"),
    "prep.none": ("Không còn biểu quyết chuẩn bị sẵn.", "No prepared vote is left."),
    # The chair's vote panel (console/chair.py): what F5 opens, under the vote shown.
    "vote.next": ("Biểu quyết tiếp theo (F5)", "Next vote (F5)"),
}
LABELS.update(PREPARED_LABELS)

# Where F4 looks first: the path given by the environment, else the last one loaded.
SITTING_FILE_ENV = "CHAMBER_SITTING_FILE"


class PreparedActions(SittingActions):
    """Load a sitting file (F4) and open the next prepared vote (F5)."""

    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        Binding("f4", "load_sitting", "Load sitting"),
        Binding("f5", "next_vote", "Next vote"),
    ]

    _last_sitting_file: str = ""

    def state_allows(self, action: str) -> bool:
        if action not in PREPARED_ACTIONS:
            return super().state_allows(action)
        m = self.client.mirror
        if not m.ready:
            return False
        sitting = m.sitting()
        if action == "load_sitting":
            # A file opens a sitting, or finishes loading the open one.
            return m.state.get("active_vote") is None
        return sitting.open and sitting.next_vote is not None and m.state.get("active_vote") is None

    # --- F4: a sitting file -----------------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_load_sitting(self) -> None:
        lang = self.lang
        given = self._last_sitting_file or os.environ.get(SITTING_FILE_ENV, "")
        values = await self.push_screen_wait(_form(lang, given))
        if values is None:
            return
        read = self._read(values["path"].strip())
        if read is None:
            return
        path, text = read
        self._last_sitting_file = str(path)
        body: dict[str, Any] = {
            "text": text,
            "format": "json" if path.suffix.lower() == ".json" else "toml",
            "name": path.name,
        }
        checked: dict[str, Any] = {}

        async def check() -> None:
            checked.update(await self.client.load_sitting({**body, "check": True}))

        if not await self._send(check(), label("prep.cmd.check", lang, name=path.name)):
            return
        sitting = str(checked.get("sitting_id", ""))
        prepared = checked.get("prepared") or []
        if not checked.get("opens") and not prepared:
            self.notify(label("prep.load.nothing", lang, sitting=sitting), severity="warning")
            return
        warnings = [str(w) for w in checked.get("warnings") or []]
        shown = label("prep.warnings", lang, lines="; ".join(warnings)) if warnings else ""
        items = checked.get("items", 0)
        key = "prep.confirm.load" if checked.get("opens") else "prep.confirm.complete"
        if not await self._confirm(
            key,
            sitting=sitting,
            items=items,
            count=len(prepared),
            kept=len(checked.get("kept") or []),
            warnings=shown,
        ):
            return
        await self._send(
            self.client.load_sitting(body), label("prep.cmd.load", lang, sitting=sitting)
        )

    def _read(self, given: str) -> tuple[Path, str] | None:
        """The file at `given` (a path, ~ for the home directory) and its text, or None once
        the operator is told why not."""
        lang = self.lang
        path = Path(given).expanduser()
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            error = exc.strerror or str(exc)
            self.notify(
                label("prep.load.unreadable", lang, path=path, error=error), severity="error"
            )
            return None
        if len(raw) > MAX_FILE_BYTES:
            self.notify(
                label("prep.load.too_large", lang, path=path, kib=MAX_FILE_BYTES // 1024),
                severity="error",
            )
            return None
        # Not UTF-8 (a legacy Vietnamese encoding): the daemon names the line; sent as read.
        return path, raw.decode("utf-8", errors="replace").removeprefix("\ufeff")

    # --- F5: the next prepared vote ---------------------------------------------------------

    @work(exclusive=True, group="command")
    async def action_next_vote(self) -> None:
        lang = self.lang
        m = self.client.mirror
        sitting = m.sitting()
        vote = next((v for v in m.votes() if v.vote_id == sitting.next_vote), None)
        if vote is None:
            self.notify(label("prep.none", lang), severity="warning")
            return
        titles = dict(agenda(m.state))
        item = _item_of(m.state, vote.vote_id)
        if item is not None and item != sitting.item_id:
            where = label("prep.next.item", lang, title=titles.get(item, item))
        elif item is not None:
            where = label("prep.next.same_item", lang, title=titles.get(item, item))
        else:
            where = ""
        if not await self._confirm("prep.confirm.next", title=vote.title, item=where):
            return
        await self._send(self.client.next_vote(), label("prep.cmd.next", lang, vote=vote.vote_id))


def _form(lang: Lang, given: str) -> FormScreen:
    return FormScreen(
        label("prep.load.question", lang),
        lang,
        [Field("path", "prep.load.path", given, required)],
        do=label("prep.load.do", lang),
    )


def _item_of(state: dict[str, Any], vote_id: str) -> str | None:
    """The agenda item of vote `vote_id` as the daemon's view has it."""
    votes = state.get("votes")
    for vote in votes if isinstance(votes, list) else []:
        if isinstance(vote, dict) and vote.get("vote_id") == vote_id:
            item = vote.get("item_id")
            return item if isinstance(item, str) else None
    return None
