"""The console's vote dialogs: a new vote with its kind, rule, answers, mode, duration and
agenda item, and what the chair does when the system fails during a vote (annul it with a
reason, enter a result taken by show of hands or on paper).

What a rule needs ("Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50") and each
kind's rule come from the daemon (`GET /api/hall`): the console never works out the law. Each
dialog is a modal screen that answers with a value (`dismiss`); the app decides what to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from chamber.console.i18n import Lang, label

MODES = ("open", "secret", "roll-call")
ANSWERS = ("yes-no-abstain", "yes-no", "choices")
MAX_DURATION_S = 86_400.0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class KindChoice:
    kind: str
    label: str
    rule: str
    answers: str
    mode: str


@dataclass(frozen=True)
class VoteChoices:
    """What a new vote may be in this hall, as the daemon says: the kinds with their rule,
    answers and mode, each rule's line for the electorate now, the agenda and its current
    item."""

    kinds: tuple[KindChoice, ...]
    # Rule key -> the line to show before opening, in the hall's language.
    rules: Mapping[str, str]
    agenda: tuple[tuple[str, str], ...]
    current_item: str | None
    default_mode: str

    @classmethod
    def from_json(
        cls, hall: Mapping[str, Any], state: Mapping[str, Any], lang: Lang
    ) -> VoteChoices:
        """From `GET /api/hall` and the mirror's view; anything missing is left out."""
        defaults = _dict(hall.get("vote_defaults"))
        default_mode = str(defaults.get("mode") or "open")
        kinds = []
        for k in map(_dict, _list(hall.get("kinds"))):
            labels = _dict(k.get("label"))
            kind = str(k.get("kind") or "")
            if not kind:
                continue
            kinds.append(
                KindChoice(
                    kind=kind,
                    label=str(labels.get(lang.value) or kind),
                    rule=str(k.get("rule") or ""),
                    answers=str(k.get("answers") or "yes-no-abstain"),
                    mode=str(k.get("mode") or default_mode),
                )
            )
        rules = {
            str(r.get("key")): str(r.get("text") or r.get("key"))
            for r in map(_dict, _list(hall.get("rules")))
            if r.get("key")
        }
        sitting = _dict(state.get("sitting"))
        agenda = tuple(
            (str(i.get("id")), str(i.get("title") or i.get("id")))
            for i in map(_dict, _list(sitting.get("agenda")))
            if i.get("id")
        )
        current = sitting.get("current_item")
        return cls(
            kinds=tuple(kinds),
            rules=rules,
            agenda=agenda,
            current_item=str(current) if isinstance(current, str) else None,
            default_mode=default_mode,
        )

    def kind(self, key: str) -> KindChoice | None:
        return next((k for k in self.kinds if k.kind == key), None)

    def item_title(self, item_id: str | None) -> str:
        return next((title for i, title in self.agenda if i == item_id), "")


@dataclass(frozen=True)
class NewVote:
    """A vote as the chair prepared it in the dialog; None: the daemon's default."""

    title: str
    duration_s: float | None
    kind: str | None = None
    rule: str | None = None
    answers: str | None = None
    choices: tuple[str, ...] = ()
    mode: str | None = None
    item_id: str | None = None
    practice: bool = False

    @property
    def secret(self) -> bool:
        return self.mode == "secret"

    def body(self) -> dict[str, Any]:
        """The request body of `POST /api/votes`."""
        body: dict[str, Any] = {"title": self.title}
        for key, value in (
            ("kind", self.kind),
            ("rule", self.rule),
            ("answers", self.answers),
            ("mode", self.mode),
            ("duration_s", self.duration_s),
            ("item_id", self.item_id),
        ):
            if value is not None:
                body[key] = value
        if self.choices:
            body["choices"] = list(self.choices)
        if self.practice:
            body["practice"] = True
        return body


def needed_line(choices: VoteChoices, rule: str) -> str:
    return choices.rules.get(rule, rule)


def kind_warnings(choices: VoteChoices, kind: str, rule: str, mode: str, lang: Lang) -> list[str]:
    """Where the chosen rule or mode is not the kind's, as the daemon will warn."""
    k = choices.kind(kind)
    if k is None:
        return []
    found = []
    if rule != k.rule:
        found.append(label("new.rule_not_kind", lang, kind=k.label, kind_rule=k.rule, rule=rule))
    if k.mode == "secret" and mode != "secret":
        found.append(
            label(
                "new.mode_not_kind",
                lang,
                kind=k.label,
                kind_mode=label(f"mode.{k.mode}", lang),
                mode=label(f"mode.{mode}", lang),
            )
        )
    return found


class NewVoteScreen(ModalScreen[NewVote | None]):
    """A new vote. With the hall's choices it offers the kind (which sets the rule, answers
    and mode), the rule, the answers, the mode, the duration, the agenda item and a practice
    vote, and shows what the rule needs before the vote is made."""

    DEFAULT_CSS = """
    NewVoteScreen .dialog { height: auto; max-height: 95%; }
    NewVoteScreen #fields { height: auto; max-height: 30; }
    NewVoteScreen #needed { color: $success; text-style: bold; width: 100%; margin-top: 1; }
    NewVoteScreen #warning { color: $warning; width: 100%; }
    NewVoteScreen Label { width: 100%; }
    """

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang, choices: VoteChoices | None = None) -> None:
        super().__init__()
        self.lang = lang
        self.choices = choices

    def compose(self) -> ComposeResult:
        lang = self.lang
        c = self.choices
        with Vertical(classes="dialog"):
            yield Label(label("new.title", lang))
            # The agenda item's title stands in until the chair types one (Enter takes it).
            yield Input(placeholder=c.item_title(c.current_item) if c else "", id="title")
            with VerticalScroll(id="fields"):
                if c is not None and c.kinds:
                    first = c.kind("resolution") or c.kinds[0]
                    yield Label(label("new.kind", lang))
                    yield Select(
                        [(k.label, k.kind) for k in c.kinds],
                        value=first.kind,
                        allow_blank=False,
                        id="kind",
                    )
                    rules = list(c.rules) or [first.rule]
                    yield Label(label("new.rule", lang))
                    yield Select(
                        [(key, key) for key in rules],
                        value=first.rule if first.rule in rules else rules[0],
                        allow_blank=False,
                        id="rule",
                    )
                    yield Label(label("new.answers", lang))
                    yield Select(
                        [(label(f"answers.{a}", lang), a) for a in ANSWERS],
                        value=first.answers if first.answers in ANSWERS else ANSWERS[0],
                        allow_blank=False,
                        id="answers",
                    )
                    yield Label(label("new.choices", lang))
                    yield Input(id="choices", placeholder=label("new.choices.hint", lang))
                    yield Label(label("new.mode", lang))
                    yield Select(
                        [(label(f"mode.{m}", lang), m) for m in MODES],
                        value=first.mode if first.mode in MODES else MODES[0],
                        allow_blank=False,
                        id="mode",
                    )
                    if c.agenda:
                        yield Label(label("new.item", lang))
                        yield Select(
                            list((title, item) for item, title in c.agenda),
                            value=c.current_item if c.current_item else c.agenda[0][0],
                            allow_blank=False,
                            id="item",
                        )
                else:
                    yield Checkbox(label("new.secret", lang), id="secret")
                yield Label(label("new.duration", lang))
                yield Input(id="duration", type="number")
                if c is not None:
                    yield Checkbox(label("new.practice", lang), id="practice")
            yield Label("", id="needed")
            yield Label("", id="warning")
            yield Label("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('new.create', lang)} (Enter)", id="create", variant="primary")
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def on_mount(self) -> None:
        self._explain()

    def _value(self, widget_id: str) -> str | None:
        found = self.query(f"#{widget_id}")
        if not found:
            return None
        widget = found.first()
        if isinstance(widget, Select):
            value = widget.value
            return value if isinstance(value, str) else None
        if isinstance(widget, Input):
            return widget.value
        return None

    def _set(self, widget_id: str, value: str) -> None:
        found = self.query(f"#{widget_id}")
        if found:
            widget = found.first()
            if isinstance(widget, Select):
                widget.value = value

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        """A kind brings its rule, answers and mode, as the daemon would."""
        c = self.choices
        k = c.kind(str(event.value)) if c is not None else None
        if k is not None:
            if k.rule in (c.rules if c else {}):
                self._set("rule", k.rule)
            self._set("answers", k.answers)
            self._set("mode", k.mode)
        self._explain()

    @on(Select.Changed, "#rule")
    @on(Select.Changed, "#mode")
    def _rule_changed(self) -> None:
        self._explain()

    @on(Select.Changed, "#item")
    def _item_changed(self, event: Select.Changed) -> None:
        """A new item brings its title, unless the chair types one of their own."""
        if self.choices is not None:
            self.query_one("#title", Input).placeholder = self.choices.item_title(str(event.value))

    def _explain(self) -> None:
        """The line "Biểu quyết theo: … — cần ít nhất N/M", and the kind's warnings."""
        c = self.choices
        rule, kind, mode = self._value("rule"), self._value("kind"), self._value("mode")
        needed = self.query_one("#needed", Label)
        warning = self.query_one("#warning", Label)
        if c is None or rule is None:
            needed.update("")
            warning.update("")
            return
        needed.update(needed_line(c, rule))
        found = kind_warnings(c, kind or "", rule, mode or c.default_mode, self.lang)
        warning.update("\n".join(f"⚠ {w}" for w in found))

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        lang = self.lang
        field = self.query_one("#title", Input)
        title = field.value.strip() or field.placeholder.strip()
        raw = self.query_one("#duration", Input).value.strip()
        problem = self.query_one("#problem", Label)
        if not title:
            problem.update(label("new.title", lang) + " ?")
            self.query_one("#title", Input).focus()
            return
        duration: float | None = None
        if raw:
            try:
                duration = float(raw)
            except ValueError:
                duration = -1.0
            if not 0 < duration <= MAX_DURATION_S:
                problem.update(label("new.duration", lang) + " ?")
                return
        if self.choices is None:
            secret = self.query_one("#secret", Checkbox).value
            self.dismiss(NewVote(title, duration, mode="secret" if secret else None))
            return
        answers = self._value("answers")
        choices: tuple[str, ...] = ()
        if answers == "choices":
            choices = tuple(
                part.strip() for part in (self._value("choices") or "").split(",") if part.strip()
            )
            if len(choices) < 2:
                problem.update(label("new.choices", lang) + " ?")
                return
        self.dismiss(
            NewVote(
                title=title,
                duration_s=duration,
                kind=self._value("kind"),
                rule=self._value("rule"),
                answers=answers,
                choices=choices,
                mode=self._value("mode"),
                item_id=self._value("item"),
                practice=self.query_one("#practice", Checkbox).value,
            )
        )

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


class AnnulScreen(ModalScreen[str | None]):
    """Hủy kết quả: the reason, for the journal and the minutes; Enter annuls, Esc goes
    back. It says what cannot be undone."""

    DEFAULT_CSS = """
    AnnulScreen .dialog Label { width: 100%; }
    AnnulScreen #undo { color: $error; text-style: bold; margin-top: 1; }
    """

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang, title: str) -> None:
        super().__init__()
        self.lang = lang
        self.vote_title = title

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield Label(label("annul.question", lang, title=self.vote_title))
            yield Label(label("annul.reason", lang))
            yield Input(id="reason")
            yield Label(label("annul.undo", lang), id="undo")
            yield Label("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('annul.do', lang)} (Enter)", id="annul", variant="error")
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#annul")
    def _annul(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#problem", Label).update(label("annul.reason", self.lang) + " ?")
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ManualResult:
    method: str
    totals: tuple[int, ...]
    # None: the members the system has present.
    present: int | None


class ManualResultScreen(ModalScreen[ManualResult | None]):
    """A result taken by show of hands or on paper: how, the count per answer, and the
    members present if counted by hand. The daemon checks the counts and decides."""

    DEFAULT_CSS = """
    ManualResultScreen .dialog Label { width: 100%; }
    """

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang, title: str, options: tuple[str, ...]) -> None:
        super().__init__()
        self.lang = lang
        self.vote_title = title
        self.options = options

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield Label(label("manual.question", lang, title=self.vote_title))
            yield Select(
                [(label(f"manual.{m}", lang), m) for m in ("show-of-hands", "paper")],
                value="show-of-hands",
                allow_blank=False,
                id="method",
            )
            for i, option in enumerate(self.options, start=1):
                yield Label(option)
                yield Input(id=f"count-{i}", type="integer")
            yield Label(label("manual.present", lang))
            yield Input(id="present", type="integer")
            yield Label("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button(
                    f"{label('manual.enter', lang)} (Enter)", id="enter", variant="primary"
                )
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#enter")
    def _enter(self) -> None:
        totals: list[int] = []
        problem = self.query_one("#problem", Label)
        for i, option in enumerate(self.options, start=1):
            raw = self.query_one(f"#count-{i}", Input).value.strip() or "0"
            try:
                count = int(raw)
            except ValueError:
                count = -1
            if count < 0:
                problem.update(f"{option} ?")
                return
            totals.append(count)
        raw_present = self.query_one("#present", Input).value.strip()
        present: int | None = None
        if raw_present:
            try:
                present = int(raw_present)
            except ValueError:
                present = -1
            if present < 0:
                problem.update(label("manual.present", self.lang) + " ?")
                return
        method = self.query_one("#method", Select).value
        self.dismiss(
            ManualResult(
                method=method if isinstance(method, str) else "show-of-hands",
                totals=tuple(totals),
                present=present,
            )
        )

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


# --- what the chair's vote pane says of a vote, beyond its state -------------------------------

# key -> (Vietnamese, English): marks of the vote pane, beside the labels of console/i18n.py.
_MARKS: dict[str, tuple[str, str]] = {
    "practice": ("BIỂU QUYẾT THỬ — không tính vào kết quả", "PRACTICE VOTE — not in the record"),
    "rerun": ("Biểu quyết lại, thay cho {vote_id}", "Run again, in place of {vote_id}"),
    "rerun_by": ("Đã biểu quyết lại: {vote_id}", "Run again as {vote_id}"),
    "annulled": ("ĐÃ HỦY KẾT QUẢ — Lý do: {reason}", "RESULT ANNULLED — Reason: {reason}"),
    "show-of-hands": (
        "Kết quả biểu quyết giơ tay, do chủ tọa nhập",
        "Result by show of hands, entered by the chair",
    ),
    "paper": ("Kết quả phiếu giấy, do chủ tọa nhập", "Result on paper, entered by the chair"),
}

_BEFORE_DECIDED = frozenset({"prepared", "open", "hold"})


def _mark(key: str, lang: Lang, **fields: object) -> str:
    vi, en = _MARKS[key]
    return (vi if lang is Lang.VI else en).format(**fields)


def vote_marks(state: Mapping[str, Any], vote_id: str, lang: Lang) -> list[tuple[str, str]]:
    """Lines (text, style) the vote pane shows under a vote's state, from the daemon's view:
    a practice vote, a rerun and its link, an annulment and its reason, a result taken by
    hand, what the vote needs while it is not decided, and the daemon's warnings."""
    raw = next(
        (v for v in map(_dict, _list(state.get("votes"))) if v.get("vote_id") == vote_id), {}
    )
    lines: list[tuple[str, str]] = []
    if raw.get("practice"):
        lines.append((_mark("practice", lang), "bold magenta"))
    if isinstance(raw.get("rerun_of"), str):
        lines.append((_mark("rerun", lang, vote_id=raw["rerun_of"]), "italic"))
    result = _dict(raw.get("result"))
    annulled = _dict(result.get("annulled"))
    if annulled:
        lines.append(
            (_mark("annulled", lang, reason=annulled.get("reason", "")), "bold white on red3")
        )
    if isinstance(raw.get("rerun_by"), str):
        lines.append((_mark("rerun_by", lang, vote_id=raw["rerun_by"]), "italic"))
    if result.get("manual") in ("show-of-hands", "paper"):
        lines.append((_mark(str(result["manual"]), lang), "italic"))
    needed = _dict(raw.get("needed"))
    if raw.get("state") in _BEFORE_DECIDED and needed.get("text"):
        lines.append((str(needed["text"]), "bold"))
    for warning in map(_dict, _list(raw.get("warnings"))):
        lines.append((f"⚠ {warning.get('text') or warning.get('code')}", "yellow"))
    return lines
