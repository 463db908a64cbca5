"""Card readers: at a seat whose unit reports a card, presence and votes belong to the delegate
whose card is in it. Nobody may vote for another."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.effects import Beep, BeepPattern, KeypadLeds
from chamber.controller.core.errors import HallError
from chamber.controller.core.inputs import (
    CloseVote,
    CreateVote,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    VoteKeyPressed,
)
from chamber.controller.core.model import Hall
from chamber.controller.core.sitting import MeetingCore
from tests.core.halls import AGENDA, make_hall, notes


def card(i: int) -> str:
    return f"04A1B2C3D4E5{i:02X}"


def card_hall(delegates: int = 4, spares: int = 2) -> Hall:
    """Delegates d1..dn at seats 1..n, delegate di holding card(i), and empty spare seats."""
    hall = make_hall(delegates, empty_seats=spares)
    return replace(
        hall,
        delegates=tuple(replace(d, cards=(card(int(d.id[1:])),)) for d in hall.delegates),
    )


def opened_cards(hall: Hall | None = None) -> MeetingCore:
    core = MeetingCore(hall or card_hall())
    core.handle(OpenSitting(at=0, sitting_id="s1", title="Kỳ họp", agenda=AGENDA))
    return core


def insert(core: MeetingCore, seat: int, uid: str, at: float = 1) -> list[object]:
    return list(core.handle(PresenceChanged(at=at, seat=seat, present=True, card=uid)))


def remove(core: MeetingCore, seat: int, at: float = 1) -> list[object]:
    return list(core.handle(PresenceChanged(at=at, seat=seat, present=False)))


def reason(effects: list[object]) -> str:
    (note,) = notes(effects, "presence.rejected")  # type: ignore[arg-type]
    return str(note.data["reason"])


def test_the_own_card_makes_the_seat_present_and_taking_it_out_absent() -> None:
    core = opened_cards()
    insert(core, 2, card(2))
    assert core.attendance.is_present(2)
    remove(core, 2)
    assert not core.attendance.is_present(2)
    # UIDs are numbers in hex: case and leading zeros (the driver drops them) do not matter.
    remove(core, 2)
    insert(core, 2, card(2).lower().lstrip("0"))
    assert core.attendance.is_present(2)
    # Garbage from a unit is an unknown card, and the seat stays absent.
    remove(core, 2)
    assert reason(insert(core, 2, "not-a-card")) == "unknown-card"
    assert not core.attendance.is_present(2)


def test_another_delegates_card_seats_that_delegate_there() -> None:
    core = opened_cards()
    effects = insert(core, 5, card(3), at=2)  # a spare seat
    (moved,) = notes(effects, "seat.moved")  # type: ignore[arg-type]
    assert moved.data["delegate"] == "d3"
    assert moved.data["from_seat"] == 3
    assert moved.data["to_seat"] == 5
    assert moved.data["card"] == card(3)
    assert moved.data["unseated"] is None
    assert core.attendance.is_present(5)
    assert KeypadLeds(5, lit=(), present=True) in effects
    # d3's card at d4's seat: d4 loses the seat, d3 (absent at 5 once the card is out) sits.
    remove(core, 5)
    effects = insert(core, 4, card(3), at=3)
    (moved,) = notes(effects, "seat.moved")  # type: ignore[arg-type]
    assert (moved.data["from_seat"], moved.data["unseated"]) == (5, "d4")
    assert core.attendance.seating.delegate_at(4) == "d3"
    assert core.attendance.seating.seat_of("d4") is None
    # d4, with no seat, takes the empty seat 5 with their own card.
    insert(core, 5, card(4), at=4)
    assert core.attendance.seating.delegate_at(5) == "d4"
    assert core.attendance.is_present(5)
    # Votes follow: d3 votes at seat 4.
    core.handle(CreateVote(at=5, vote_id="v1", title="T", quorum_required=False))
    core.handle(OpenVote(at=6, vote_id="v1"))
    core.handle(VoteKeyPressed(at=7, seat=4, key=1))
    core.handle(VoteKeyPressed(at=7, seat=5, key=2))
    assert core.ballots.votes["v1"]._choice_of_seat == {4: 1, 5: 2}
    core.handle(CloseVote(at=8, vote_id="v1"))
    # The minutes' record keeps the moves.
    moves = core.snapshot()["attendance"]["moves"]
    assert [m["delegate"] for m in moves] == ["d3", "d3", "d4"]
    assert core.snapshot()["attendance"]["seating"] == {"3": None, "4": "d3", "5": "d4"}


def test_refused_cards_leave_the_seat_absent_with_a_reason_and_a_reject_beep() -> None:
    core = opened_cards()
    insert(core, 3, card(3))
    # d3 is present at 3: their card (a copy) at 5 is refused.
    effects = insert(core, 5, card(3))
    assert reason(effects) == "present-elsewhere"
    assert Beep(5, BeepPattern.REJECT) in effects
    assert not core.attendance.is_present(5)
    # An unknown card, even at the seat's own delegate's seat.
    effects = insert(core, 2, "DEADBEEF")
    assert reason(effects) == "unknown-card"
    assert Beep(2, BeepPattern.REJECT) in effects
    assert not core.attendance.is_present(2)
    # A foreign card while a vote holds the keypads.
    core.handle(CreateVote(at=2, vote_id="v1", title="T", quorum_required=False))
    core.handle(OpenVote(at=3, vote_id="v1"))
    effects = insert(core, 4, card(2), at=4)
    assert reason(effects) == "vote-active"
    assert core.attendance.seating.delegate_at(4) == "d4"
    assert not core.attendance.is_present(4)
    # The seat is not jammed: its own card still works, and its press counts.
    insert(core, 4, card(4), at=5)
    assert core.attendance.is_present(4)
    core.handle(VoteKeyPressed(at=6, seat=4, key=1))
    assert core.ballots.votes["v1"]._choice_of_seat == {4: 1}


def test_a_card_swapped_without_a_removal_unseats_the_holder_before() -> None:
    core = opened_cards()
    insert(core, 2, card(2))
    # The unit shows another card at once (d2's card out and d3's in within one poll).
    insert(core, 2, card(3), at=2)
    assert core.attendance.seating.delegate_at(2) == "d3"
    assert core.attendance.is_present(2)
    assert core.attendance.present_members == 1
    assert core.attendance.periods["d2"][-1].end == 2


def test_nobody_votes_for_another_with_the_card_out_or_by_the_key_alone() -> None:
    core = opened_cards()
    insert(core, 2, card(2))
    insert(core, 3, card(3))
    core.handle(CreateVote(at=2, vote_id="v1", title="T", quorum_required=False))
    core.handle(OpenVote(at=3, vote_id="v1"))
    # d2 takes the card out: the seat's presses are not counted.
    remove(core, 2, at=4)
    core.handle(VoteKeyPressed(at=5, seat=2, key=1))
    # The presence key alone does not make a card-reader seat present.
    effects = core.handle(PresenceChanged(at=6, seat=2, present=True))
    assert reason(list(effects)) == "card-required"
    assert not core.attendance.is_present(2)
    core.handle(VoteKeyPressed(at=7, seat=2, key=1))
    # d3's card at seat 2 while the vote is open is refused, and so are its presses there.
    remove(core, 3, at=8)
    insert(core, 2, card(3), at=9)
    core.handle(VoteKeyPressed(at=10, seat=2, key=2))
    assert core.ballots.votes["v1"]._choice_of_seat == {}


def test_a_hall_without_cards_keeps_the_presence_key_as_before() -> None:
    core = MeetingCore(make_hall(3))
    core.handle(PresenceChanged(at=1, seat=2, present=True, card="04A1B2C3D4E5F6"))
    core.handle(PresenceChanged(at=2, seat=2, present=False))
    core.handle(PresenceChanged(at=3, seat=2, present=True))
    assert core.attendance.is_present(2)


def test_two_delegates_with_one_card_is_a_hall_error() -> None:
    hall = card_hall()
    first = hall.delegates[0]
    delegates = (first, replace(hall.delegates[1], cards=(first.cards[0].lower(),)))
    with pytest.raises(HallError):
        MeetingCore(replace(hall, delegates=delegates + hall.delegates[2:]))


# --- a property -----------------------------------------------------------------------------

SEATS = 6  # four delegates at 1..4, spares 5 and 6
UIDS = [card(i) for i in range(1, 5)] + ["0011223344556677"]  # the last one nobody's

events = st.lists(
    st.one_of(
        st.tuples(st.just("in"), st.integers(1, SEATS), st.integers(0, len(UIDS) - 1)),
        st.tuples(st.just("out"), st.integers(1, SEATS), st.just(0)),
        st.tuples(st.just("key"), st.integers(1, SEATS), st.just(0)),
        st.tuples(st.just("press"), st.integers(1, SEATS), st.integers(1, 3)),
        st.tuples(st.just("vote"), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(events)
def test_a_press_counts_only_for_the_holder_of_the_card_in_that_seat(
    steps: list[tuple[str, int, int]],
) -> None:
    core = opened_cards()
    owner = {c: f"d{i}" for i, c in enumerate(UIDS[:4], start=1)}
    # What the model knows: the card in each reader (None: none), from the unit's view.
    in_reader: dict[int, str | None] = {}
    # Seats whose unit has shown a card (a seat that never has keeps its presence key).
    carded: set[int] = set()
    # Per vote, who each counted press was made by (seat -> delegate), when it was made.
    pressed_by: dict[str, dict[int, str]] = {}
    votes = 0
    at = 1.0
    for kind, seat, arg in steps:
        at += 1
        vote = core.ballots.active
        if kind == "in":
            carded.add(seat)
            in_reader[seat] = UIDS[arg]
            core.handle(PresenceChanged(at=at, seat=seat, present=True, card=UIDS[arg]))
        elif kind == "out":
            in_reader[seat] = None
            core.handle(PresenceChanged(at=at, seat=seat, present=False))
        elif kind == "key":
            core.handle(PresenceChanged(at=at, seat=seat, present=True))
        elif kind == "press":
            before = dict(vote._choice_of_seat) if vote is not None else {}
            core.handle(VoteKeyPressed(at=at, seat=seat, key=arg))
            counted = vote is not None and vote._choice_of_seat.get(seat) != before.get(seat)
            if counted:
                assert vote is not None
                holder = core.attendance.seating.delegate_at(seat)
                assert holder is not None
                pressed_by.setdefault(vote.vote_id, {})[seat] = holder
            if counted and seat in carded:
                uid = in_reader.get(seat)
                # Counted: the card in this reader is the seat's delegate's own.
                assert uid is not None
                assert owner.get(uid) == core.attendance.seating.delegate_at(seat)
        else:
            if vote is not None:
                core.handle(CloseVote(at=at, vote_id=vote.vote_id))
            else:
                votes += 1
                core.handle(
                    CreateVote(at=at, vote_id=f"v{votes}", title="T", quorum_required=False)
                )
                core.handle(OpenVote(at=at, vote_id=f"v{votes}"))
        # No delegate at two seats, and the core's parts agree on who sits where.
        chart = core.attendance.seating.current
        assert len(set(chart.values())) == len(chart)
        assert {s: d.id for s, d in core.ballots._delegate_at.items()} == chart
        assert {s: d for s, d in core.floor._delegate_of.items() if d is not None} == chart
        for s in core.attendance.present_seats:
            # Present at a card-reader seat: its own delegate's card is in it.
            if core.attendance.is_card_seat(s):
                uid = in_reader.get(s)
                assert uid is not None
                assert owner.get(uid) == chart.get(s)
        # Every choice of the open vote is the one of the delegate who pressed it with their
        # own card (or at a seat without a reader), and that delegate still sits there.
        vote = core.ballots.active
        if vote is not None:
            for s in vote._choice_of_seat:
                assert pressed_by[vote.vote_id][s] == chart.get(s)
