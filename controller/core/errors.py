"""The meeting core's exception tree.

Two kinds of bad input reach the core and they are treated differently:

* A chair or operator command (open a vote, grant the floor, set the agenda ...) that cannot be
  carried out raises :class:`CommandRejected` with a stable ``code`` ("vote.wrong_state") and
  its parameters (``vote="v3", state="closed", command="open"``). The code's entry in
  `refusals.REFUSALS` says whether it is "not-found" (404), "conflict" (409) or "invalid" (422)
  and which parameters it takes; its sentence, in Vietnamese or English, comes from the
  catalogue in `i18n` (never from the raise site).
* A unit input (a key press, a presence key, a microphone button) never raises: units are
  hardware and cannot be argued with. It is rejected with a notification and a beep instead.

This module must never import anything that does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from chamber.controller.core.i18n import refusal_text
from chamber.controller.core.model import Language
from chamber.controller.core.refusals import REFUSALS, ParamValue, RejectKind

__all__ = ["CommandRejected", "CoreError", "HallError", "ParamValue", "RejectKind"]


class CoreError(Exception):
    """Base class of every error the meeting core raises."""


class CommandRejected(CoreError):
    """A chair or operator command the core refuses: `code` names the refusal, `params` its
    parameters, `kind` its class ("not-found", "conflict", "invalid"), `status` the HTTP
    status the API answers with, and `message` its English sentence (for logs).

    A code the table does not hold (a bug, caught by the tests) is a conflict."""

    code: str
    params: Mapping[str, ParamValue]
    kind: RejectKind
    status: int

    def __init__(self, code: str, /, **params: ParamValue) -> None:
        self.code = code
        self.params = MappingProxyType(params)
        spec = REFUSALS.get(code)
        if spec is None:
            self.status, self.kind = 409, "conflict"
        else:
            # The core's own codes are 404/409/422; an internal error (500) is "invalid".
            self.status, self.kind = spec.status, spec.kind or "invalid"
        super().__init__(f"{code}: {self.message}")

    @property
    def message(self) -> str:
        """The refusal in English, as a log line or a test reads it."""
        return refusal_text(Language.EN, self.code, self.params)

    def text(self, language: Language) -> str:
        """The refusal as a sentence in `language`."""
        return refusal_text(language, self.code, self.params)

    def to_json(self) -> dict[str, object]:
        """`code` and `params`, as the API's problem carries them."""
        return {"code": self.code, "params": dict(self.params)}


class HallError(CoreError):
    """The hall description itself is inconsistent (two seats with one number, a seat naming an
    unknown delegate ...). Raised when the core is built, never while a sitting runs."""
