"""The meeting core's views: its state as JSON-ready snapshots, and participation records.

Built on demand only (never on a press), from the core's public state. `MeetingCore.snapshot`
and `MeetingCore.participation` are these functions; the "vote.created" and "sitting.changed"
notifications carry the same shapes. Nothing here changes the core, does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.participation import Participation, build_participation
from chamber.controller.core.votes import ACTIVE_STATES, Vote, VoteResult, VoteState

if TYPE_CHECKING:
    from chamber.controller.core.inputs import OpenSitting
    from chamber.controller.core.sitting import MeetingCore, SittingRecord


def vote_json(vote: Vote, now: float, delegate_id: Callable[[int], str | None]) -> dict[str, Any]:
    """One vote at time `now`; a roll call names the delegates it calls."""
    data = vote.to_json(now)
    if "calling" in data:
        seat = data["calling"]
        data["calling_delegate"] = delegate_id(seat) if seat is not None else None
        data["call_order_delegates"] = [delegate_id(s) for s in vote.call_order]
    return data


def electorate(vote: Vote, voting_present: Collection[int]) -> int:
    """The one figure of those who may vote in `vote`, the denominator of "voted" everywhere.

    Decided, it is the result's own: those who voted and those of the electorate at the close
    who did not (`voted + did_not_vote`), so the two always add up to it. While the vote runs,
    it is the same sum as it would be at a close now: the voting members present, and those
    who voted and left since (their vote stands). Prepared, the voting members present; a vote
    cancelled before any close keeps those it had at its open and those who voted."""
    result = vote.result
    if result is not None:
        return result.voted + result.did_not_vote
    if vote.state in ACTIVE_STATES:
        return len(set(voting_present) | vote.participants)
    if vote.state is VoteState.PREPARED:
        return len(voting_present)
    return len(vote.electorate_at_open | vote.participants)


def did_not_vote_seats(result: VoteResult) -> list[int]:
    """The seats that did not take part in a decided vote ("Không tham gia"): those of the
    electorate at the close who did not vote. Who took part is on the record after the close,
    secret ballot or not (docs/secret-ballot.md); these are its complement."""
    took_part = set(result.participants)
    return [s for s in result.electorate_at_close if s not in took_part]


def person_json(name: str, delegate_id: str) -> dict[str, Any] | None:
    """The chair or the secretary a sitting file names: their name and, for a delegate of the
    hall, the delegate's id; None when the sitting names nobody."""
    if not name and not delegate_id:
        return None
    return {"name": name, "delegate": delegate_id or None}


def opening_json(opening: OpenSitting | None) -> dict[str, Any]:
    """What a prepared sitting file adds to a sitting: its title in English, date, place,
    chair and secretary (empty and None for a sitting opened by hand)."""
    if opening is None:
        return {"title_en": "", "date": "", "place": "", "chair": None, "secretary": None}
    return {
        "title_en": opening.title_en,
        "date": opening.date,
        "place": opening.place,
        "chair": person_json(opening.chair, opening.chair_id),
        "secretary": person_json(opening.secretary, opening.secretary_id),
    }


def sitting_json(core: MeetingCore) -> dict[str, Any]:
    """The open sitting (or none), its agenda and the prepared vote the chair opens next."""
    following = core.next_prepared_vote() if core.sitting_id is not None else None
    return {
        "open": core.sitting_id is not None,
        "sitting_id": core.sitting_id,
        "title": core.sitting_title,
        "opened_at": core.sitting_opened_at,
        "agenda": [
            {
                "id": item.id,
                "title": item.title,
                "title_en": item.title_en,
                "current": item.id == core.current_item,
            }
            for item in core.agenda
        ],
        "current_item": core.current_item,
        **opening_json(core.opening),
        "next_vote": following.vote_id if following is not None else None,
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
        "votes": [_vote(core, v, now) for v in core.votes.values()],
        "results": [
            {
                "vote_id": d.vote_id,
                "title": d.title,
                "item_id": d.item_id,
                "kind": d.kind.value,
                "mode": d.mode.value,
                "rerun_of": d.rerun_of,
                **r.to_json(d.options),
                "did_not_vote_seats": did_not_vote_seats(r),
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
                **opening_json(r.opening),
            }
            for r in core.history
        ],
        "floor": core.floor.snapshot(),
    }


def _vote(core: MeetingCore, vote: Vote, now: float) -> dict[str, Any]:
    """One vote of the snapshot, with its electorate figure and, once decided, the seats that
    did not take part."""
    data = core.ballots.vote_json(vote, now)
    data["electorate"] = electorate(vote, core.attendance.voting_present)
    if vote.result is not None and isinstance(data.get("result"), dict):
        data["result"] = {**data["result"], "did_not_vote_seats": did_not_vote_seats(vote.result)}
    return data


def participation(core: MeetingCore, sitting_id: str | None) -> dict[str, Participation]:
    """Per-delegate record of a sitting: the open one by default, or a past one by id; with no
    sitting open, the last one held."""
    if sitting_id is None or sitting_id == core.sitting_id:
        if core.sitting_id is None:
            if not core.history:
                raise CommandRejected("sitting.none_held")
            return past_participation(core, core.history[-1])
        return build_participation(
            core.hall,
            core.sitting_id,
            core.now,
            core.attendance.periods,
            core.ballots.closed_votes(),
            core.sitting_speeches(),
            core.attendance.seating.chart_for,
        )
    for record in core.history:
        if record.sitting_id == sitting_id:
            return past_participation(core, record)
    raise CommandRejected("sitting.not_found", sitting=sitting_id)


def past_participation(core: MeetingCore, record: SittingRecord) -> dict[str, Participation]:
    return build_participation(
        core.hall,
        record.sitting_id,
        record.closed_at,
        record.periods,
        record.votes,
        record.speeches,
        core.attendance.seating.chart_for,
    )
