"""The meeting core's exception tree.

Two kinds of bad input reach the core and they are treated differently:

* A chair or operator command (open a vote, grant the floor, set the agenda ...) that cannot be
  carried out raises :class:`CommandRejected` with a machine-readable ``code`` so the API can
  tell the client why (404 for "not-found", 409 for "conflict", 422 for "invalid").
* A unit input (a key press, a presence key, a microphone button) never raises: units are
  hardware and cannot be argued with. It is rejected with a notification and a beep instead.

This module must never import anything that does I/O.
"""

from __future__ import annotations

from typing import Literal

RejectCode = Literal["not-found", "conflict", "invalid"]


class CoreError(Exception):
    """Base class of every error the meeting core raises."""


class CommandRejected(CoreError):
    """A chair or operator command the core refuses, with a reason the API can pass on.

    ``code`` is "not-found" (unknown seat, vote, item ...), "conflict" (the command does not
    fit the current state, e.g. "vote 12 is closed") or "invalid" (malformed arguments).
    """

    code: RejectCode
    message: str

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class HallError(CoreError):
    """The hall description itself is inconsistent (two seats with one number, a seat naming an
    unknown delegate ...). Raised when the core is built, never while a sitting runs."""
