"""The meeting core: a pure, deterministic state machine for a sitting of the hall.

`MeetingCore(hall).handle(inp) -> list[Effect]` is the whole interface the runtime needs;
the rest is exported for the API, the journal, reports and tests. Nothing in this package does
I/O, runs an event loop or reads a clock.
"""

from chamber.controller.core.attendance import Attendance, Period, Registration
from chamber.controller.core.errors import CommandRejected, CoreError, HallError, RejectKind
from chamber.controller.core.i18n import answer_labels, explain_outcome
from chamber.controller.core.participation import Participation, SpeechRecord, VoteTaken
from chamber.controller.core.rules import PRESETS, Counts, Outcome, decide, required, rule_for
from chamber.controller.core.sitting import MeetingCore, SittingRecord
from chamber.controller.core.votes import (
    TRANSITIONS,
    PressRejected,
    Vote,
    VoteCommand,
    VoteDefinition,
    VoteResult,
    VoteState,
)

__all__ = [
    "PRESETS",
    "TRANSITIONS",
    "Attendance",
    "CommandRejected",
    "CoreError",
    "Counts",
    "HallError",
    "MeetingCore",
    "Outcome",
    "Participation",
    "Period",
    "PressRejected",
    "Registration",
    "RejectKind",
    "SittingRecord",
    "SpeechRecord",
    "Vote",
    "VoteCommand",
    "VoteDefinition",
    "VoteResult",
    "VoteState",
    "VoteTaken",
    "answer_labels",
    "decide",
    "explain_outcome",
    "required",
    "rule_for",
]
