"""The console's dialogs: a yes/no question, a seat number (the vote dialogs: vote_dialogs.py).

Each is a modal screen that answers with a value (`dismiss`); the app decides what to send.
Screens never talk to the daemon.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from chamber.console.i18n import Lang, label

# The new-vote dialog lives with the other vote dialogs (kind, rule, answers, mode, the figure a
# vote needs; annul, a result taken by hand); named here too, where the dialogs are.
from chamber.console.vote_dialogs import NewVote as NewVote
from chamber.console.vote_dialogs import NewVoteScreen as NewVoteScreen


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
