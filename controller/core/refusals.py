"""Every refusal the daemon can give, by its stable code: the HTTP status, and the parameters
it carries with their types.

A refusal is a code ("vote.wrong_state") and parameters ({"vote": "v3", "state": "closed",
"command": "open"}); its sentence, in Vietnamese or English, is made from the catalogue in
`chamber.controller.core.i18n`, never written where it is raised. The codes are stable: a
client may branch on them, and renders them in its own language.

The meeting core's refusals (404 "not found", 409 "conflict", 422 "invalid") are raised as
`CommandRejected(code, **params)`; the API's own (token, role, request body, unknown route)
share this table so that every client renders them the same way.

This module is data only: no I/O, no imports from the rest of the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

RejectKind = Literal["not-found", "conflict", "invalid"]

KIND_OF_STATUS: Mapping[int, RejectKind] = MappingProxyType(
    {404: "not-found", 409: "conflict", 422: "invalid"}
)

# A parameter's value on the wire: a JSON string or number.
ParamValue = str | int | float


class ParamType(StrEnum):
    """How a parameter is shown: as it is, as a number, or as a word of the hall's language."""

    TEXT = "text"  # an id, a title, a name: shown as it is
    INT = "int"  # a count, a seat number
    NUMBER = "number"  # seconds and other measures (Vietnamese writes "7,5")
    VOTE_STATE = "vote-state"  # prepared, open, hold, closed, published, cancelled, annulled
    VOTE_COMMAND = "vote-command"  # open, hold, resume, close, cancel, publish, annul, manual
    SPEAKER_LIST = "speaker-list"  # speak, question, reply
    ANSWER_SET = "answer-set"  # yes-no-abstain, yes-no, choices
    ROLE = "role"  # chair, secretary, technician, observer
    ROLES = "roles"  # roles, comma-separated: "chair, secretary"
    VALUE_TYPE = "value-type"  # what a request field should hold: integer, number, text ...


@dataclass(frozen=True)
class Refusal:
    """One refusal's status and parameters (name -> type), in the order the sentence uses them."""

    status: int
    params: Mapping[str, ParamType]

    @property
    def kind(self) -> RejectKind | None:
        return KIND_OF_STATUS.get(self.status)


def _r(http_status: int, /, **params: ParamType) -> Refusal:
    return Refusal(http_status, MappingProxyType(dict(params)))


P = ParamType
NOT_FOUND, CONFLICT, INVALID = 404, 409, 422

# A generic refusal for a code this table does not hold (a newer daemon's): rendered as a
# generic sentence plus the code.
UNKNOWN = "refusal.unknown"

REFUSALS: Mapping[str, Refusal] = MappingProxyType(
    {
        # --- the sitting and its agenda ---------------------------------------------------------
        "sitting.not_open": _r(CONFLICT),
        "sitting.already_open": _r(CONFLICT, sitting=P.TEXT),
        "sitting.already_held": _r(CONFLICT, sitting=P.TEXT),
        "sitting.id_missing": _r(INVALID),
        "sitting.none_held": _r(NOT_FOUND),
        "sitting.not_found": _r(NOT_FOUND, sitting=P.TEXT),
        # A prepared sitting file: wrong in itself (`problem` names the key or line), or
        # not the sitting that is open under its id.
        "sitting.file_invalid": _r(INVALID, problem=P.TEXT),
        "sitting.file_mismatch": _r(CONFLICT, sitting=P.TEXT),
        "agenda.item_not_found": _r(NOT_FOUND, item=P.TEXT),
        "agenda.ids_invalid": _r(INVALID),
        # --- seats and attendance ---------------------------------------------------------------
        "seat.not_found": _r(NOT_FOUND, seat=P.INT),
        "seat.no_delegate": _r(INVALID, seat=P.INT),
        "seat.no_microphone": _r(INVALID, seat=P.INT),
        "seat.occupied": _r(CONFLICT, seat=P.INT),
        "seat.no_keypad": _r(INVALID, seat=P.INT),
        "seat.move_same": _r(INVALID, seat=P.INT),
        "seat.reason_missing": _r(INVALID),
        "seat.reason_too_long": _r(INVALID, max=P.INT),
        "attendance.registration_open": _r(CONFLICT),
        "attendance.registration_not_open": _r(CONFLICT),
        # --- votes ------------------------------------------------------------------------------
        "vote.not_found": _r(NOT_FOUND, vote=P.TEXT),
        "vote.exists": _r(CONFLICT, vote=P.TEXT),
        "vote.id_missing": _r(INVALID),
        "vote.title_missing": _r(INVALID),
        "vote.choices_count": _r(INVALID, min=P.INT, max=P.INT, count=P.INT),
        "vote.choices_invalid": _r(INVALID),
        "vote.choices_unexpected": _r(INVALID, answers=P.ANSWER_SET),
        "vote.time_negative": _r(INVALID),
        "vote.duration_too_long": _r(INVALID, max_s=P.NUMBER),
        "vote.warning_after_end": _r(INVALID, warning_s=P.NUMBER, duration_s=P.NUMBER),
        "vote.wrong_state": _r(CONFLICT, vote=P.TEXT, state=P.VOTE_STATE, command=P.VOTE_COMMAND),
        "vote.active": _r(CONFLICT, vote=P.TEXT, state=P.VOTE_STATE),
        "vote.another_active": _r(CONFLICT, vote=P.TEXT, state=P.VOTE_STATE),
        "vote.not_amendable": _r(CONFLICT, vote=P.TEXT, state=P.VOTE_STATE),
        "vote.not_changeable": _r(CONFLICT, vote=P.TEXT),
        "vote.no_quorum": _r(CONFLICT, present=P.INT, required=P.INT),
        "vote.none_prepared": _r(CONFLICT),
        "vote.rerun_not_annulled": _r(CONFLICT, vote=P.TEXT, state=P.VOTE_STATE),
        "vote.rerun_done": _r(CONFLICT, vote=P.TEXT, rerun=P.TEXT),
        "vote.annul_not_closed": _r(CONFLICT, vote=P.TEXT),
        "vote.annul_reason_missing": _r(INVALID),
        "vote.annul_reason_too_long": _r(INVALID, max=P.INT),
        "vote.manual_weighted": _r(INVALID, vote=P.TEXT),
        "vote.manual_answers": _r(INVALID, vote=P.TEXT, keys=P.INT, count=P.INT),
        "vote.manual_negative": _r(INVALID),
        "vote.manual_present_range": _r(INVALID, present=P.INT, entitled=P.INT),
        "vote.manual_too_many": _r(INVALID, voted=P.INT, present=P.INT),
        "vote.not_closed_secret": _r(CONFLICT, vote=P.TEXT),
        "vote.totals_keys": _r(INVALID, vote=P.TEXT),
        "vote.totals_participants": _r(INVALID, vote=P.TEXT),
        "vote.weighted_totals": _r(INVALID, vote=P.TEXT),
        # --- majority rules ---------------------------------------------------------------------
        "rule.not_found": _r(NOT_FOUND, rule=P.TEXT),
        "rule.threshold_range": _r(INVALID, fraction=P.TEXT),
        # --- the floor --------------------------------------------------------------------------
        "floor.already_speaking": _r(CONFLICT, seat=P.INT),
        "floor.already_waiting": _r(CONFLICT, seat=P.INT, list=P.SPEAKER_LIST),
        "floor.lists_full": _r(CONFLICT, max=P.INT),
        "floor.nobody_waiting": _r(CONFLICT),
        "floor.at_cap": _r(CONFLICT, max=P.INT),
        "floor.nobody_waiting_on_list": _r(CONFLICT, list=P.SPEAKER_LIST),
        "floor.not_speaking_or_waiting": _r(CONFLICT, seat=P.INT),
        "floor.not_speaking": _r(CONFLICT, seat=P.INT),
        "floor.untimed": _r(CONFLICT, seat=P.INT),
        "floor.cap_range": _r(INVALID, min=P.INT, max=P.INT),
        "floor.speaking_time_range": _r(INVALID, max_s=P.NUMBER),
        "floor.extension_range": _r(INVALID, max_s=P.NUMBER),
        # --- inputs the core cannot read ------------------------------------------------------
        "input.unknown": _r(INVALID, input=P.TEXT),
        "input.malformed": _r(INVALID, input=P.TEXT, problem=P.TEXT),
        "input.malformed_unit": _r(INVALID, input=P.TEXT, problem=P.TEXT),
        "core.internal": _r(500, error=P.TEXT),
        # --- the API: tokens and roles ----------------------------------------------------------
        "auth.token_missing": _r(401),
        "auth.token_invalid": _r(401),
        "auth.role_forbidden": _r(403, role=P.ROLE, allowed=P.ROLES),
        # --- the API: requests ------------------------------------------------------------------
        "request.bad_length": _r(400),
        "request.too_large": _r(413, max_bytes=P.INT),
        "request.body_not_json": _r(422),
        "request.field_missing": _r(422, field=P.TEXT),
        "request.field_unknown": _r(422, field=P.TEXT),
        "request.field_type": _r(422, field=P.TEXT, expected=P.VALUE_TYPE),
        "request.field_too_long": _r(422, field=P.TEXT, max=P.INT),
        "request.field_too_short": _r(422, field=P.TEXT, min=P.INT),
        "request.field_at_least": _r(422, field=P.TEXT, limit=P.TEXT),
        "request.field_at_most": _r(422, field=P.TEXT, limit=P.TEXT),
        "request.field_above": _r(422, field=P.TEXT, limit=P.TEXT),
        "request.field_below": _r(422, field=P.TEXT, limit=P.TEXT),
        "request.field_choice": _r(422, field=P.TEXT, expected=P.TEXT),
        "request.field_pattern": _r(422, field=P.TEXT, pattern=P.TEXT),
        "request.field_invalid": _r(422, field=P.TEXT, message=P.TEXT),
        "http.not_found": _r(404, path=P.TEXT),
        "http.method_not_allowed": _r(405, method=P.TEXT),
        "http.error": _r(400, status=P.INT, message=P.TEXT),
        # --- the technician: faults and identify -----------------------------------------------
        "fault.not_found": _r(NOT_FOUND, fault=P.TEXT),
        "unit.not_found": _r(NOT_FOUND, line=P.TEXT, address=P.INT),
        "identify.not_supported": _r(
            CONFLICT, line=P.TEXT, address=P.INT, seat=P.INT, contract=P.TEXT, needed=P.TEXT
        ),
        "identify.line_not_supported": _r(CONFLICT, line=P.TEXT),
        "identify.offline": _r(CONFLICT, line=P.TEXT, address=P.INT, seat=P.INT),
        "identify.no_reply": _r(504, line=P.TEXT, address=P.INT),
        "identify.refused": _r(CONFLICT, line=P.TEXT, address=P.INT, seat=P.INT, reason=P.TEXT),
        # --- the technician: commissioning a line ------------------------------------------
        "commission.line_not_found": _r(NOT_FOUND, line=P.TEXT),
        "commission.not_serial": _r(CONFLICT, line=P.TEXT),
        "commission.vote_open": _r(CONFLICT, line=P.TEXT),
        "commission.attendance_open": _r(CONFLICT, line=P.TEXT),
        "commission.line_released": _r(CONFLICT, line=P.TEXT),
        "commission.busy": _r(CONFLICT, line=P.TEXT),
        "commission.no_scan": _r(CONFLICT, line=P.TEXT),
        "commission.unsettled": _r(CONFLICT, line=P.TEXT, units=P.INT),
        "commission.no_hall_file": _r(CONFLICT),
        "commission.failed": _r(502, line=P.TEXT, reason=P.TEXT),
        # --- the API: exports and the journal ---------------------------------------------------
        "journal.unreadable": _r(500, reason=P.TEXT),
        "export.no_sitting": _r(NOT_FOUND),
        "export.sitting_not_found": _r(NOT_FOUND, sitting=P.TEXT),
        "export.vote_not_closed": _r(NOT_FOUND, vote=P.TEXT),
        "export.failed": _r(NOT_FOUND, reason=P.TEXT),
        "signing.key_unusable": _r(500),
        "internal.error": _r(500, error=P.TEXT),
        UNKNOWN: _r(CONFLICT, code=P.TEXT),
    }
)


def refusal(code: str) -> Refusal | None:
    return REFUSALS.get(code)


def misfits(code: str, params: Mapping[str, object]) -> list[str]:
    """What in `params` does not fit refusal `code`'s parameters: a name missing or extra, a
    value of the wrong type (an int for `int`, a number for `number`, a string otherwise)."""
    spec = REFUSALS.get(code)
    if spec is None:
        return [f"no refusal {code!r}"]
    found = [f"{name}: missing" for name in spec.params if name not in params]
    found += [f"{name}: not a parameter" for name in params if name not in spec.params]
    for name, kind in spec.params.items():
        if name not in params:
            continue
        value = params[name]
        if kind is ParamType.INT:
            fits = isinstance(value, int) and not isinstance(value, bool)
        elif kind is ParamType.NUMBER:
            fits = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            fits = isinstance(value, str)
        if not fits:
            found.append(f"{name}: {type(value).__name__} for {kind.value}")
    return found
