"""The dialogs of the sitting and the floor: open a sitting, choose the agenda item, and one form
for the rest (a seat marked by hand, a seat move, a seat on a list, a longer turn, the
microphone mode).

Each is a modal screen that answers with plain values (`dismiss`) once every field is good, or
None when the operator goes back (Esc); the app decides what to send. Screens never talk to the
daemon. Every field says what is wrong with it in the hall's language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, TextArea
from textual.widgets.option_list import Option

from chamber.console.i18n import Lang, label

# A field's check: the problem with its text (a label key), or None when it is good.
Check = Callable[[str], str | None]


def seat_check(known: frozenset[int]) -> Check:
    def check(text: str) -> str | None:
        try:
            seat = int(text)
        except ValueError:
            return "seat.invalid"
        return None if seat in known else "seat.invalid"

    return check


def number_check(low: float, high: float) -> Check:
    def check(text: str) -> str | None:
        try:
            value = float(text)
        except ValueError:
            return "sit.form.number"
        return None if low <= value <= high else "sit.form.number"

    return check


def required(text: str) -> str | None:
    return None if text.strip() else "sit.form.required"


@dataclass(frozen=True)
class Field:
    """One line of a form: a text field (with its check) or a choice (`choices`: value, label
    key)."""

    id: str
    prompt: str  # a label key
    value: str = ""
    check: Check | None = None
    choices: Sequence[tuple[str, str]] = field(default_factory=tuple)


class FormScreen(ModalScreen[dict[str, str] | None]):
    """A few fields under a question; Enter in a text field (or the button) sends when every
    field is good, Esc goes back. `undo` says what cannot be undone."""

    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen .dialog Label { width: 100%; }
    FormScreen .problem { color: $error; }
    FormScreen #undo { color: $error; text-style: bold; margin-top: 1; }
    """

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(
        self, question: str, lang: Lang, fields: Sequence[Field], *, do: str, undo: str = ""
    ) -> None:
        super().__init__()
        self.question = question
        self.lang = lang
        self.fields = tuple(fields)
        self.do = do
        self.undo = undo

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield Label(self.question, id="question")
            for f in self.fields:
                yield Label(label(f.prompt, lang))
                if f.choices:
                    yield Select(
                        [(label(text, lang), value) for value, text in f.choices],
                        value=f.value or f.choices[0][0],
                        allow_blank=False,
                        id=f.id,
                    )
                else:
                    yield Input(value=f.value, id=f.id)
                yield Label("", id=f"{f.id}-problem", classes="problem")
            if self.undo:
                yield Label(self.undo, id="undo")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.do} (Enter)", id="send", variant="error")
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def on_mount(self) -> None:
        first = next((f for f in self.fields if not f.choices and not f.value), None)
        if first is not None:
            self.query_one(f"#{first.id}", Input).focus()

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.fields:
            if f.choices:
                out[f.id] = str(self.query_one(f"#{f.id}", Select).value)
            else:
                out[f.id] = self.query_one(f"#{f.id}", Input).value.strip()
        return out

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        values = self.values()
        good = True
        for f in self.fields:
            problem = f.check(values[f.id]) if f.check is not None else None
            self.query_one(f"#{f.id}-problem", Label).update(
                label(problem, self.lang) if problem else ""
            )
            good = good and problem is None
        if good:
            self.dismiss(values)

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class SittingSpec:
    """A sitting to open: its id, title and agenda (ids 1, 2, … in the order given)."""

    sitting_id: str
    title: str
    agenda: tuple[str, ...]

    def body(self) -> dict[str, object]:
        return {
            "sitting_id": self.sitting_id,
            "title": self.title,
            "agenda": [{"id": str(i), "title": t} for i, t in enumerate(self.agenda, start=1)],
        }


class OpenSittingScreen(ModalScreen[SittingSpec | None]):
    """Khai mạc: the sitting's id and title, and its agenda one item a line; Enter in the id or
    the title (or the button) opens, Esc goes back."""

    DEFAULT_CSS = """
    OpenSittingScreen { align: center middle; }
    OpenSittingScreen .dialog Label { width: 100%; }
    OpenSittingScreen TextArea { height: 8; }
    OpenSittingScreen #problem { color: $error; }
    """

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang, sitting_id: str) -> None:
        super().__init__()
        self.lang = lang
        self.sitting_id = sitting_id

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield Label(label("sit.open.question", lang), id="question")
            yield Label(label("sit.open.id", lang))
            yield Input(value=self.sitting_id, id="sitting-id")
            yield Label(label("sit.open.title", lang))
            yield Input(id="sitting-title")
            yield Label(label("sit.open.agenda", lang))
            yield TextArea(id="agenda")
            yield Label("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('sit.open.do', lang)} (Enter)", id="send", variant="error")
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def on_mount(self) -> None:
        self.query_one("#sitting-title", Input).focus()

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        sitting_id = self.query_one("#sitting-id", Input).value.strip()
        title = self.query_one("#sitting-title", Input).value.strip()
        agenda = tuple(
            line.strip() for line in self.query_one("#agenda", TextArea).text.splitlines()
        )
        if not sitting_id or not title:
            self.query_one("#problem", Label).update(label("sit.open.missing", self.lang))
            return
        self.dismiss(SittingSpec(sitting_id, title, tuple(t for t in agenda if t)))

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


class AgendaScreen(ModalScreen[str | None]):
    """The agenda, the current item marked; Enter makes the highlighted one current."""

    DEFAULT_CSS = """
    AgendaScreen { align: center middle; }
    AgendaScreen .dialog Label { width: 100%; }
    AgendaScreen OptionList { height: auto; max-height: 14; }
    """

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang, items: Sequence[tuple[str, str]], current: str | None) -> None:
        super().__init__()
        self.lang = lang
        self.items = tuple(items)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(label("sit.item.question", self.lang))
            yield OptionList(
                *(
                    Option(f"{'▶' if i == self.current else ' '} {n}. {t}", id=i)
                    for n, (i, t) in enumerate(self.items, start=1)
                ),
                id="items",
            )

    def on_mount(self) -> None:
        options = self.query_one("#items", OptionList)
        ids = [i for i, _ in self.items]
        options.highlighted = ids.index(self.current) if self.current in ids else 0
        options.focus()

    def action_back(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
