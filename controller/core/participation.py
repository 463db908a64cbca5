"""The participation record: per delegate and sitting, attendance, votes taken part in, speeches.

The council's secretariat exports it. It is built on demand from what the other parts of the
core already keep (attendance periods, closed votes' results, the floor's finished turns); it
holds no state of its own, so it can never disagree with them.

Practice votes and annulled votes are left out: they count for and against nobody (the vote
run again in an annulled one's place counts). A result the chair entered by hand (show of
hands, paper) names no seat, so it reaches nobody's record either.

A secret vote appears only as "took part": the record is built from `VoteResult.participants`
and `VoteResult.choices`, and the latter is empty for a secret vote, so there is no path by
which a choice could reach it. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chamber.controller.core.attendance import Period
from chamber.controller.core.model import Hall, SpeakerList
from chamber.controller.core.votes import VoteDefinition, VoteResult


class SpeechLike(Protocol):
    """A finished turn as the floor reports it (`controller.core.floor.Speech`)."""

    @property
    def seat(self) -> int: ...
    @property
    def delegate_id(self) -> str | None: ...
    @property
    def list(self) -> SpeakerList: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def overtime_s(self) -> float: ...
    @property
    def forced(self) -> bool: ...


@dataclass(frozen=True)
class VoteTaken:
    """A vote the delegate took part in; `key` and `label` are None for a secret vote."""

    vote_id: str
    title: str
    item_id: str | None
    mode: str
    key: int | None
    label: str | None


@dataclass(frozen=True)
class SpeechRecord:
    seat: int
    list: SpeakerList
    start: float
    end: float
    overtime_s: float
    # Opened by the technician outside the floor rules rather than granted.
    forced: bool = False

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Participation:
    sitting_id: str
    delegate_id: str
    name: str
    group: str
    periods: tuple[Period, ...]
    present_s: float
    votes: tuple[VoteTaken, ...]
    # Votes held while the delegate was in the electorate but did not press.
    votes_missed: tuple[str, ...]
    speeches: tuple[SpeechRecord, ...]

    def speaking_s(self, speaker_list: SpeakerList | None = None) -> float:
        return sum(
            s.duration_s for s in self.speeches if speaker_list is None or s.list is speaker_list
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sitting_id": self.sitting_id,
            "delegate_id": self.delegate_id,
            "name": self.name,
            "group": self.group,
            "periods": [{"seat": p.seat, "start": p.start, "end": p.end} for p in self.periods],
            "present_s": self.present_s,
            "votes": [
                {
                    "vote_id": v.vote_id,
                    "title": v.title,
                    "item_id": v.item_id,
                    "mode": v.mode,
                    "key": v.key,
                    "label": v.label,
                }
                for v in self.votes
            ],
            "votes_missed": list(self.votes_missed),
            "speeches": [
                {
                    "seat": s.seat,
                    "list": s.list.value,
                    "start": s.start,
                    "end": s.end,
                    "duration_s": s.duration_s,
                    "overtime_s": s.overtime_s,
                    "forced": s.forced,
                }
                for s in self.speeches
            ],
            "speaking_s": {
                "total": self.speaking_s(),
                **{sl.value: self.speaking_s(sl) for sl in SpeakerList},
            },
        }


def build_participation(
    hall: Hall,
    sitting_id: str,
    now: float,
    periods: Mapping[str, Sequence[Period]],
    votes: Iterable[tuple[VoteDefinition, VoteResult]],
    speeches: Iterable[SpeechLike],
    chart_for: Callable[[str], Mapping[int, str]] | None = None,
) -> dict[str, Participation]:
    """One record per delegate of the hall, for one sitting, in delegate order.

    `chart_for(vote_id)`: who sat where when that vote was held (a delegate moved to another
    seat takes the votes of the seat they sat at then); None: the hall's chart."""
    delegate_at: Mapping[int, str] = {
        s.number: s.delegate for s in hall.seats if s.delegate is not None
    }
    hall_chart = delegate_at
    taken: dict[str, list[VoteTaken]] = {d.id: [] for d in hall.delegates}
    missed: dict[str, list[str]] = {d.id: [] for d in hall.delegates}
    for definition, result in votes:
        if definition.practice or not result.stands:
            # A practice vote, or one the chair annulled, counts for and against nobody; the
            # vote run again in its place does.
            continue
        choice_of = dict(result.choices)  # empty for a secret vote
        delegate_at = hall_chart if chart_for is None else chart_for(definition.vote_id)
        for seat in result.participants:
            delegate = delegate_at.get(seat)
            if delegate is None:
                continue
            key = choice_of.get(seat)
            taken[delegate].append(
                VoteTaken(
                    vote_id=definition.vote_id,
                    title=definition.title,
                    item_id=definition.item_id,
                    mode=definition.mode.value,
                    key=key,
                    label=definition.options[key - 1] if key is not None else None,
                )
            )
        voted = set(result.participants)
        for seat in result.electorate_at_close:
            delegate = delegate_at.get(seat)
            if delegate is not None and seat not in voted:
                missed[delegate].append(definition.vote_id)
    delegate_at = hall_chart
    spoke: dict[str, list[SpeechRecord]] = {d.id: [] for d in hall.delegates}
    for speech in speeches:
        delegate_id = speech.delegate_id or delegate_at.get(speech.seat)
        if delegate_id is None or delegate_id not in spoke:
            continue
        spoke[delegate_id].append(
            SpeechRecord(
                speech.seat,
                speech.list,
                speech.start,
                speech.end,
                speech.overtime_s,
                speech.forced,
            )
        )
    records: dict[str, Participation] = {}
    for d in hall.delegates:
        own = tuple(periods.get(d.id, ()))
        records[d.id] = Participation(
            sitting_id=sitting_id,
            delegate_id=d.id,
            name=d.name,
            group=d.group,
            periods=own,
            present_s=sum(p.duration(now) for p in own),
            votes=tuple(taken[d.id]),
            votes_missed=tuple(missed[d.id]),
            speeches=tuple(spoke[d.id]),
        )
    return records
