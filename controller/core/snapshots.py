"""The meeting core's views: its state as JSON-ready snapshots, and participation records.

Built on demand only (never on a press), from the core's public state. `MeetingCore.snapshot`
and `MeetingCore.participation` are these functions; the "vote.created" and "sitting.changed"
notifications carry the same shapes. Nothing here changes the core, does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.participation import Participation, build_participation
from chamber.controller.core.votes import Vote

if TYPE_CHECKING:
    from chamber.controller.core.model import Hall
    from chamber.controller.core.sitting import MeetingCore, SittingRecord


def vote_json(vote: Vote, now: float, delegate_id: Callable[[int], str | None]) -> dict[str, Any]:
    """One vote at time `now`; a roll call names the delegates it calls."""
    data = vote.to_json(now)
    if "calling" in data:
        seat = data["calling"]
        data["calling_delegate"] = delegate_id(seat) if seat is not None else None
        data["call_order_delegates"] = [delegate_id(s) for s in vote.call_order]
    return data


def sitting_json(core: MeetingCore) -> dict[str, Any]:
    """The open sitting (or none) and its agenda."""
    return {
        "open": core.sitting_id is not None,
        "sitting_id": core.sitting_id,
        "title": core.sitting_title,
        "opened_at": core.sitting_opened_at,
        "agenda": [
            {"id": item.id, "title": item.title, "current": item.id == core.current_item}
            for item in core.agenda
        ],
        "current_item": core.current_item,
    }


def snapshot(core: MeetingCore) -> dict[str, Any]:
    """The full state, JSON-ready."""
    now = core.now
    active = core.active_vote
    closed = core.ballots.closed_votes()
    return {
        "now": now,
        "language": core.language.value,
        "sitting": sitting_json(core),
        "attendance": core.attendance.to_json(now),
        "quorum": core.attendance.quorum_json(),
        "active_vote": active.vote_id if active is not None else None,
        "votes": [core.ballots.vote_json(v, now) for v in core.votes.values()],
        "results": [
            {
                "vote_id": d.vote_id,
                "title": d.title,
                "item_id": d.item_id,
                "kind": d.kind.value,
                "mode": d.mode.value,
                "rerun_of": d.rerun_of,
                **r.to_json(d.options),
            }
            for d, r in closed
        ],
        "sittings": [
            {
                "sitting_id": r.sitting_id,
                "title": r.title,
                "opened_at": r.opened_at,
                "closed_at": r.closed_at,
                "votes": len(r.votes),
            }
            for r in core.history
        ],
        "floor": core.floor.snapshot(),
    }


def participation(core: MeetingCore, sitting_id: str | None) -> dict[str, Participation]:
    """Per-delegate record of a sitting: the open one by default, or a past one by id; with no
    sitting open, the last one held."""
    if sitting_id is None or sitting_id == core.sitting_id:
        if core.sitting_id is None:
            if not core.history:
                raise CommandRejected("not-found", "no sitting has been held")
            return past_participation(core.hall, core.history[-1])
        return build_participation(
            core.hall,
            core.sitting_id,
            core.now,
            core.attendance.periods,
            core.ballots.closed_votes(),
            core.sitting_speeches(),
        )
    for record in core.history:
        if record.sitting_id == sitting_id:
            return past_participation(core.hall, record)
    raise CommandRejected("not-found", f"no sitting {sitting_id!r}")


def past_participation(hall: Hall, record: SittingRecord) -> dict[str, Participation]:
    return build_participation(
        hall,
        record.sitting_id,
        record.closed_at,
        record.periods,
        record.votes,
        record.speeches,
    )
