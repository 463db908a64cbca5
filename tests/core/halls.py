"""Halls and input helpers shared by the meeting-core tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from chamber.controller.core.effects import Effect, Notification
from chamber.controller.core.inputs import AgendaItemSpec, Input, OpenSitting, PresenceChanged
from chamber.controller.core.model import (
    Body,
    Delegate,
    Hall,
    Language,
    MajorityRule,
    MicClass,
    Policies,
    Role,
    Seat,
    VotePolicy,
)
from chamber.controller.core.sitting import MeetingCore

AGENDA = (
    AgendaItemSpec("1", "Nghị quyết về ngân sách"),
    AgendaItemSpec("2", "Miễn nhiệm đại biểu"),
    AgendaItemSpec("3", "Chất vấn"),
)


def make_hall(
    seats: int = 10,
    *,
    members: int | None = None,
    language: Language = Language.EN,
    weights: Sequence[int] = (),
    secretary: bool = False,
    empty_seats: int = 0,
    rules: tuple[MajorityRule, ...] = (),
    vote: VotePolicy | None = None,
) -> Hall:
    """`seats` delegates at seats 1..n (seat 1 is the chair), plus optional extras:
    a secretary who may not vote, and empty seats with keypads."""
    delegates = [
        Delegate(
            id=f"d{i}",
            name=f"Đại biểu {i}",
            group="A" if i % 2 else "B",
            role=Role.CHAIR if i == 1 else Role.DELEGATE,
            weight=weights[i - 1] if i <= len(weights) else 1,
        )
        for i in range(1, seats + 1)
    ]
    hall_seats = [
        Seat(
            number=i,
            row=(i - 1) // 20,
            col=(i - 1) % 20,
            delegate=f"d{i}",
            mic_class=MicClass.CHAIR if i == 1 else MicClass.DELEGATE,
        )
        for i in range(1, seats + 1)
    ]
    next_seat = seats + 1
    if secretary:
        delegates.append(Delegate(id="sec", name="Thư ký", role=Role.SECRETARY, voting=False))
        hall_seats.append(Seat(number=next_seat, row=99, col=0, delegate="sec"))
        next_seat += 1
    for k in range(empty_seats):
        hall_seats.append(Seat(number=next_seat + k, row=98, col=k))
    policies = Policies(rules=rules)
    if vote is not None:
        policies = replace(policies, vote=vote)
    return Hall(
        body=Body(name="Hội đồng nhân dân tỉnh", members=members or seats),
        delegates=tuple(delegates),
        seats=tuple(hall_seats),
        policies=policies,
        language=language,
    )


def feed(core: MeetingCore, inputs: Iterable[Input]) -> list[Effect]:
    effects: list[Effect] = []
    for inp in inputs:
        effects.extend(core.handle(inp))
    return effects


def seated(core: MeetingCore, seats: Iterable[int], at: float = 0.0) -> list[Effect]:
    return feed(core, (PresenceChanged(at=at, seat=s, present=True) for s in seats))


def opened(hall: Hall, present: Iterable[int] | None = None, at: float = 0.0) -> MeetingCore:
    """A core with a sitting open and the given seats (default: every delegate seat) present."""
    core = MeetingCore(hall)
    seats = [s.number for s in hall.seats if s.delegate is not None] if present is None else present
    seated(core, seats, at)
    core.handle(OpenSitting(at=at, sitting_id="s1", title="Kỳ họp thứ 5", agenda=AGENDA))
    return core


def notes(effects: Iterable[Effect], topic: str) -> list[Notification]:
    return [e for e in effects if isinstance(e, Notification) and e.topic == topic]
