"""The console's dialogs: a yes/no question, a new vote, a seat number.

Each is a modal screen that answers with a value (`dismiss`); the app decides what to send.
Screens never talk to the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from chamber.console.i18n import Lang, label


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; y or Enter confirms, n or Escape goes back.

    Under the question it says what cannot be undone (`undo`), or what else happens (`note`);
    every line wraps to the dialog's width, never cut."""

    DEFAULT_CSS = """
    ConfirmScreen .dialog Label { width: 100%; }
    ConfirmScreen #undo-title { color: $error; text-style: bold; margin-top: 1; }
    ConfirmScreen #note { margin-top: 1; }
    """

    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        Binding("y,enter", "answer(True)", "OK", show=False),
        Binding("n,escape", "answer(False)", "Back", show=False),
    ]

    def __init__(self, question: str, lang: Lang, *, undo: str = "", note: str = "") -> None:
        super().__init__()
        self.question = question
        self.lang = lang
        self.undo = undo
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, id="question")
            if self.undo:
                yield Label(label("confirm.undo", self.lang), id="undo-title")
                yield Label(self.undo, id="undo")
            if self.note:
                yield Label(self.note, id="note")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('confirm.yes', self.lang)} (y)", id="yes", variant="error")
                yield Button(f"{label('confirm.no', self.lang)} (n)", id="no")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


@dataclass(frozen=True)
class NewVote:
    title: str
    secret: bool
    duration_s: float | None


class NewVoteScreen(ModalScreen[NewVote | None]):
    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang) -> None:
        super().__init__()
        self.lang = lang

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield Label(label("new.title", lang))
            yield Input(id="title")
            yield Checkbox(label("new.secret", lang), id="secret")
            yield Label(label("new.duration", lang))
            yield Input(id="duration", type="number")
            yield Label("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('new.create', lang)} (Enter)", id="create", variant="primary")
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        title = self.query_one("#title", Input).value.strip()
        raw = self.query_one("#duration", Input).value.strip()
        problem = self.query_one("#problem", Label)
        if not title:
            problem.update(label("new.title", self.lang) + " ?")
            self.query_one("#title", Input).focus()
            return
        duration: float | None = None
        if raw:
            try:
                duration = float(raw)
            except ValueError:
                duration = -1.0
            if not 0 < duration <= 86_400:
                problem.update(label("new.duration", self.lang) + " ?")
                return
        self.dismiss(NewVote(title, self.query_one("#secret", Checkbox).value, duration))

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


class SeatScreen(ModalScreen[int | None]):
    """Asks for a seat number (prefilled with a suggestion)."""

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, prompt: str, lang: Lang, known: frozenset[int], default: int | None) -> None:
        super().__init__()
        self.prompt = prompt
        self.lang = lang
        self.known = known
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt)
            yield Input(
                value="" if self.default is None else str(self.default), id="seat", type="integer"
            )
            yield Label("", id="problem")

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            seat = int(event.value)
        except ValueError:
            seat = -1
        if seat not in self.known:
            self.query_one("#problem", Label).update(label("seat.invalid", self.lang))
            return
        self.dismiss(seat)
