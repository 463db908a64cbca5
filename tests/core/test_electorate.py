"""One electorate figure: "voted" out of the same number everywhere, and voted + did not vote
equal to it at the close; after the close the seats that did not vote are named.

The worked example: ten delegates; six present when the vote opens (seats 1-6). Seats 1, 2
and 3 vote. Seats 7 and 8 arrive, seat 3 leaves (its vote stands), seat 4 leaves without
voting, seat 7 votes. At the close: voted 4 (1, 2, 3, 7); of the electorate at the close
(1, 2, 5, 6, 7, 8) seats 5, 6 and 8 did not vote: 3; and 4 + 3 = 7 is the figure shown
beside "voted" from the moment seat 4 left. The figure at the open (6) is not it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CloseVote,
    CreateVote,
    Input,
    OpenVote,
    PresenceChanged,
    Tick,
    VoteKeyPressed,
)
from chamber.controller.core.model import VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.view import HallInfo, Health, core_views
from tests.core.halls import make_hall, opened
from tests.core.test_core_properties import HALL, Step, timed_steps

HALL_INFO: HallInfo = {
    "id": "test",
    "name": "Hội đồng",
    "short_name": "HĐ",
    "members": 10,
    "language": "vi",
}
NO_HEALTH: Health = {"lines": [], "units": []}


def vote_of(core: MeetingCore, vote_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(v for v in core.snapshot()["votes"] if v["vote_id"] == vote_id)
    return found


def wall_show(core: MeetingCore) -> dict[str, Any]:
    from chamber.controller.core.view import Audience

    wall: dict[str, Any] = dict(core_views(core, HALL_INFO, NO_HEALTH)[Audience.WALL])
    return dict(wall["show"])


def worked_example(mode: VoteMode) -> MeetingCore:
    core = opened(make_hall(10), present=[1, 2, 3, 4, 5, 6])
    core.handle(CreateVote(at=1.0, vote_id="v1", title="Nghị quyết", mode=mode))
    assert vote_of(core, "v1")["electorate"] == 6  # prepared: the voting members present
    core.handle(OpenVote(at=2.0, vote_id="v1"))
    for seat, key in ((1, 1), (2, 2), (3, 1)):
        core.handle(VoteKeyPressed(at=3.0, seat=seat, key=key))
    assert vote_of(core, "v1")["electorate"] == 6
    core.handle(PresenceChanged(at=4.0, seat=7, present=True))
    core.handle(PresenceChanged(at=4.0, seat=8, present=True))
    assert vote_of(core, "v1")["electorate"] == 8
    core.handle(PresenceChanged(at=5.0, seat=3, present=False))
    assert vote_of(core, "v1")["electorate"] == 8  # seat 3 voted: its vote stands
    core.handle(PresenceChanged(at=5.0, seat=4, present=False))
    assert vote_of(core, "v1")["electorate"] == 7
    core.handle(VoteKeyPressed(at=6.0, seat=7, key=3))
    assert wall_show(core)["electorate"] == 7
    assert wall_show(core)["did_not_vote"] == []
    core.handle(CloseVote(at=7.0, vote_id="v1"))
    return core


def test_the_worked_example_adds_up_at_the_close() -> None:
    core = worked_example(VoteMode.OPEN)
    vote = vote_of(core, "v1")
    result = vote["result"]
    assert vote["electorate_at_open"] == 6
    assert (result["voted"], result["did_not_vote"], vote["electorate"]) == (4, 3, 7)
    assert result["did_not_vote_seats"] == [5, 6, 8]
    assert vote["tally"]["voted"] == 4
    show = wall_show(core)
    assert (show["electorate"], show["did_not_vote"]) == (7, [5, 6, 8])
    [listed] = core.snapshot()["results"]
    assert listed["did_not_vote_seats"] == [5, 6, 8]


def test_a_secret_vote_names_who_did_not_vote_only_after_the_close() -> None:
    """Who took part is on the record after a secret vote's close; which key nobody knows."""
    core = worked_example(VoteMode.SECRET)
    vote = vote_of(core, "v1")
    assert vote["result"]["did_not_vote_seats"] == [5, 6, 8]
    assert vote["result"]["choices"] == []
    show = wall_show(core)
    assert (show["electorate"], show["did_not_vote"], show["choices"]) == (7, [5, 6, 8], [])


def test_the_running_figure_is_the_one_the_close_counts() -> None:
    """A close changes no figure: just before it the running vote shows what the result
    will say (voted out of the same electorate)."""
    core = opened(make_hall(10), present=[1, 2, 3, 4, 5, 6])
    core.handle(CreateVote(at=1.0, vote_id="v1", title="Nghị quyết"))
    core.handle(OpenVote(at=2.0, vote_id="v1"))
    core.handle(VoteKeyPressed(at=3.0, seat=2, key=1))
    core.handle(PresenceChanged(at=3.5, seat=9, present=True))
    core.handle(PresenceChanged(at=3.5, seat=2, present=False))
    before = vote_of(core, "v1")
    core.handle(CloseVote(at=4.0, vote_id="v1"))
    after = vote_of(core, "v1")
    assert before["electorate"] == after["electorate"] == 7
    assert (after["result"]["voted"], after["result"]["did_not_vote"]) == (1, 6)


# One vote held through arrivals, departures and presses of every seat (the chair's commands
# are in `timed_steps`, below): the case the figures used to part in.
during_a_vote = st.lists(
    st.tuples(
        st.sampled_from(["press", "arrive", "leave"]),
        st.integers(min_value=1, max_value=9),
        st.integers(min_value=1, max_value=3),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(during_a_vote, st.sampled_from(list(VoteMode)))
def test_a_vote_through_arrivals_and_departures_adds_up(
    events: list[tuple[str, int, int]], mode: VoteMode
) -> None:
    core = opened(HALL, present=[1, 2, 3, 4])
    core.handle(CreateVote(at=1.0, vote_id="v1", title="Nghị quyết", mode=mode))
    core.handle(OpenVote(at=2.0, vote_id="v1"))
    at = 2.0
    for what, seat, key in events:
        at += 0.5
        if what == "press":
            inp: Input = VoteKeyPressed(at=at, seat=seat, key=key)
        else:
            inp = PresenceChanged(at=at, seat=seat, present=what == "arrive")
        _handled(core, inp)
    running = vote_of(core, "v1")
    assert running["tally"]["voted"] <= running["electorate"]
    core.handle(CloseVote(at=at + 1.0, vote_id="v1"))
    vote = vote_of(core, "v1")
    result = vote["result"]
    assert vote["electorate"] == running["electorate"]
    assert result["voted"] + result["did_not_vote"] == vote["electorate"]
    assert wall_show(core)["electorate"] == vote["electorate"]
    present = set(core.snapshot()["attendance"]["present_seats"])
    voting = {s.number for s in HALL.seats if s.delegate is not None and s.delegate != "sec"}
    assert result["did_not_vote_seats"] == sorted((present & voting) - set(result["participants"]))


def _handled(core: MeetingCore, inp: Input) -> bool:
    try:
        core.handle(inp)
    except CommandRejected:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_steps)
def test_voted_and_did_not_vote_add_up_to_the_one_figure(steps: list[Step]) -> None:
    """For any run of presses, arrivals, departures and chair commands: a decided vote's
    voted + did not vote is its electorate figure, which is the figure it showed just before
    it closed; the seats named as not voting are that many, of the electorate, none voted."""
    core = opened(HALL, present=[1, 2, 3, 4])
    at = 0.0
    for step in [*steps, Step(0.0, lambda at: Tick(at=at))]:
        at += step.dt
        earlier = core.snapshot()
        before = {v["vote_id"]: v for v in earlier["votes"]}
        present_before = set(earlier["attendance"]["present_seats"])
        if not _handled(core, step.make(at)):
            continue
        snapshot = core.snapshot()
        for vote in snapshot["votes"]:
            result = vote["result"]
            running = vote["state"] in ("open", "hold")
            assert vote["tally"]["voted"] <= vote["electorate"] or not running
            if result is None:
                continue
            assert result["voted"] + result["did_not_vote"] == vote["electorate"]
            seats = result["did_not_vote_seats"]
            assert len(seats) == result["did_not_vote"]
            assert not set(seats) & set(result["participants"])
            was = before.get(vote["vote_id"])
            if was is not None and was["result"] is None and was["state"] in ("open", "hold"):
                # Closed by this very step (a close, or any input at or past the deadline,
                # which closes the vote before it takes effect): the figure is the one shown
                # just before, and those who did not vote were present just before (an
                # arrival or a departure at the deadline comes after the close).
                assert was["electorate"] == vote["electorate"]
                assert set(seats) <= present_before
