"""The read model and its patches: for random JSON documents a diff applied gives the new
document; for random sequences of core inputs, every audience that applies the stream's patches
to its first snapshot holds exactly the latest snapshot, and no view shows a secret choice."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import Tick
from chamber.controller.core.patch import PatchError, apply, diff
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.view import (
    Audience,
    HallInfo,
    Health,
    View,
    audience_for,
    core_views,
    shown_vote,
)
from chamber.controller.hub import Hub, Patch, Snapshot
from tests.core.halls import opened
from tests.core.test_core_properties import HALL, Step, timed_steps

HALL_INFO: HallInfo = {
    "id": "test",
    "name": "Hội đồng",
    "short_name": "HĐ",
    "members": 6,
    "language": "vi",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c/d", "e~f", ""]), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values, json_values)
def test_a_diff_applied_gives_the_new_document(before: Any, after: Any) -> None:
    ops = diff(before, after)
    result = apply(copy.deepcopy(before), json.loads(json.dumps(ops)))
    # Equal as the differ compares (1, 1.0 and true are one value to it).
    assert result == after
    if before == after:
        assert ops == []


def test_a_deep_change_is_one_small_operation() -> None:
    before = {"votes": [{"vote_id": "v1", "tally": {"voted": 3}}], "now": 1.0}
    after: dict[str, Any] = {"votes": [{"vote_id": "v1", "tally": {"voted": 4}}], "now": 1.0}
    assert diff(before, after) == [{"op": "replace", "path": "/votes/0/tally/voted", "value": 4}]
    grown = {**after, "votes": [*after["votes"], {"vote_id": "v2"}]}
    assert diff(after, grown) == [{"op": "add", "path": "/votes/1", "value": {"vote_id": "v2"}}]
    seats = list(range(1, 4097, 2))
    joined = sorted([*seats, 10])
    assert diff(seats, joined) == [{"op": "add", "path": "/5", "value": 10}]
    assert diff(joined, seats) == [{"op": "remove", "path": "/5"}]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "remove", "path": "/a/5"}],
        [{"op": "move", "path": "/a", "from": "/b"}],
        [{"op": "add", "path": "/a/01", "value": 1}],
        [{"op": "add", "path": "a", "value": 1}],
    ],
)
def test_an_operation_that_does_not_fit_is_refused(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError):
        apply({"a": [1, 2]}, ops)


def test_each_role_is_served_its_own_view_or_a_public_one() -> None:
    assert audience_for("chair") is Audience.CHAIR
    assert audience_for("secretary") is Audience.CHAIR
    assert audience_for("technician") is Audience.TECHNICIAN
    assert audience_for("observer") is Audience.OBSERVER
    assert audience_for("observer", "wall") is Audience.WALL
    assert audience_for("chair", "observer") is Audience.OBSERVER
    assert audience_for("observer", "chair") is None
    assert audience_for("technician", "chair") is None
    assert audience_for("chair", "nothing") is None


class Hall:
    """A core driven like the runtime drives it, with the hub following it."""

    def __init__(self) -> None:
        self.core = opened(HALL, present=[1, 2, 3, 4])
        self.health: Health = {"lines": [], "units": []}
        self.hub = Hub(self.views, clock=lambda: self.core.now)

    def views(self) -> dict[Audience, View]:
        return core_views(self.core, HALL_INFO, self.health)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _no_secret_choice(view: Any, core: MeetingCore) -> None:
    secret = {v.vote_id for v in core.votes.values() if v.definition.secret}
    text = json.dumps(view)
    for vote in (view.get("votes") or []) + [view.get("vote") or {}]:
        if vote.get("vote_id") in secret:
            assert not vote.get("choices"), text
            assert not (vote.get("result") or {}).get("choices"), text


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(timed_steps, st.sets(st.integers(0, 60), max_size=3))
def test_patches_applied_to_the_first_snapshot_give_the_latest(
    steps: list[Step], reconnects: set[int]
) -> None:
    hall = Hall()
    subs = {a: hall.hub.subscribe(audience=a) for a in Audience}
    held: dict[Audience, Any] = {}
    last: dict[Audience, int] = {}
    # Clients that leave: their audience, the number they saw last and the view they held.
    left: list[tuple[Audience, int, Any]] = []
    at = 0.0
    for i, step in enumerate([*steps, Step(0.0, lambda at: Tick(at=at))]):
        at += step.dt
        with contextlib.suppress(CommandRejected):
            hall.core.handle(step.make(at))
        if i % 3 == 1:
            # A health report: only the staff's views change.
            hall.health = {
                "lines": [{"line": "rtu-1", "connected": i % 2 == 0}],
                "units": [{"line": "rtu-1", "address": 1, "online": i % 4 == 1}],
            }
        hall.hub.refresh()
        for audience, sub in subs.items():
            while (message := sub.get_nowait()) is not None:
                if isinstance(message, Snapshot):
                    held[audience] = _json(message.state)
                else:
                    assert isinstance(message, Patch)
                    assert message.prev == last.get(audience, 0)
                    held[audience] = apply(held[audience], _json(list(message.ops)))
                last[audience] = message.seq
            assert held[audience] == _json(hall.hub.view(audience)), audience
            _no_secret_choice(held[audience], hall.core)
            if i in reconnects:
                left.append((audience, hall.hub.seq, copy.deepcopy(held[audience])))
    observer = held[Audience.OBSERVER]
    assert "health" not in observer
    assert "health" not in held[Audience.WALL]
    assert held[Audience.CHAIR] == held[Audience.TECHNICIAN]
    # The wall's vote is the one the rule picks over the observer's view.
    picked = (shown_vote(observer) or {}).get("vote_id")
    assert (held[Audience.WALL]["vote"] or {}).get("vote_id") == picked
    assert observer["shown_vote"] == picked
    # A client that left at some number catches up with the patches since, to the same view.
    for audience, since, view in left:
        sub = hall.hub.subscribe(since, stream=hall.hub.stream, audience=audience)
        while (message := sub.get_nowait()) is not None:
            assert isinstance(message, Patch), "the test hub keeps every patch"
            view = apply(view, _json(list(message.ops)))
        assert view == _json(hall.hub.view(audience))
        sub.close()
    # One from another daemon's run gets a snapshot.
    other = hall.hub.subscribe(0, stream="another-run", audience=Audience.WALL)
    assert isinstance(other.get_nowait(), Snapshot)


def test_how_the_wall_shows_its_vote_follows_the_vote_s_state() -> None:
    from chamber.controller.core.inputs import CloseVote, CreateVote, OpenVote, VoteKeyPressed
    from chamber.controller.core.model import VoteMode

    core = opened(HALL, present=[1, 2, 3, 4])

    def show() -> Any:
        return _json(core_views(core, HALL_INFO, {"lines": [], "units": []})[Audience.WALL])["show"]

    assert show() is None
    core.handle(CreateVote(1.0, "s", "Bỏ phiếu kín", mode=VoteMode.SECRET, duration_s=60.0))
    prepared = show()
    assert (prepared["live"], prepared["seat_map"], prepared["electorate"]) == (True, False, 4)
    core.handle(OpenVote(2.0, "s"))
    core.handle(VoteKeyPressed(3.0, 1, 1))
    running = show()
    assert running["counts"] is None
    assert running["totals_hidden"] is True
    assert running["choices"] == []
    assert running["deadline"] == 62.0
    core.handle(CloseVote(4.0, "s"))
    closed = show()
    assert closed["decided"] is True
    assert closed["live"] is False
    assert closed["counts"][0] == 1
    assert closed["choices"] == []
    assert closed["totals_hidden"] is False


def test_the_wall_screen_and_its_figures_follow_the_vote_and_the_floor() -> None:
    from chamber.controller.core.inputs import CloseVote, CreateVote, GrantFloor, OpenVote
    from chamber.controller.core.inputs import VoteKeyPressed as Press

    core = opened(HALL, present=[1, 2, 3, 4])

    def wall() -> Any:
        return _json(core_views(core, HALL_INFO, {"lines": [], "units": []})[Audience.WALL])

    assert wall()["screen"] == "idle"
    core.handle(CreateVote(1.0, "v", "Nghị quyết", duration_s=60.0, live_totals=False))
    core.handle(OpenVote(2.0, "v"))
    core.handle(Press(3.0, 1, 1))
    core.handle(Press(3.0, 2, 2))
    running = wall()
    assert running["screen"] == "vote"
    # Hidden: who has voted, no totals, no keys, no worded shares, in the view or its vote.
    assert running["show"]["voted_seats"] == [1, 2]
    assert running["show"]["counts"] is None
    assert running["vote"]["tally"] == {"voted": 2}
    assert [t["lines"] for t in running["show"]["text"].values()] == [[], []]
    assert running["show"]["text"]["vi"]["voted"] == "Đã biểu quyết: 2/4"
    assert running["show"]["text"]["en"]["voted"] == "Voted: 2 of 4"
    core.handle(CloseVote(4.0, "v"))
    closed = wall()
    assert closed["screen"] == "result"
    result = closed["vote"]["result"]
    members = result["all_members"]
    assert closed["show"]["bar_base"] == result["outcome"]["base_count"]
    assert closed["show"]["bar_mark"] == result["outcome"]["required"]
    assert closed["show"]["text"]["vi"]["lines"][0].startswith("1 đại biểu (")
    assert closed["show"]["text"]["en"]["answers"] == ["Yes", "No", "Abstain"]
    assert closed["show"]["text"]["vi"]["figures"][0] == f"Tổng số đại biểu: {members}"
    core.handle(GrantFloor(5.0, 3))
    assert wall()["screen"] == "speech"


# Lists of named items, as the views hold them (a vote's choices, the seats, the units): names
# drawn from a small pool so that lists share, gain, lose and reorder items, values that change.
named_items = st.lists(
    st.fixed_dictionaries(
        {"seat": st.integers(0, 12), "key": st.integers(1, 3)},
        optional={"note": st.text(max_size=2)},
    ),
    max_size=14,
)


@given(named_items, named_items, st.booleans())
def test_a_diff_of_named_lists_applied_gives_the_new_list(
    before: list[dict[str, Any]], after: list[dict[str, Any]], shared: bool
) -> None:
    ops = diff({"choices": before}, {"choices": after}, {} if shared else None)
    result = apply(copy.deepcopy({"choices": before}), json.loads(json.dumps(ops)))
    assert result == {"choices": after}


def test_a_seat_joining_a_long_sorted_list_is_one_add_and_shared_lists_are_diffed_once() -> None:
    before = [{"seat": s, "key": 1} for s in range(0, 200, 2)]
    after = sorted(
        [*before, {"seat": 51, "key": 2}, {"seat": 151, "key": 3}], key=lambda c: c["seat"]
    )
    memo: dict[tuple[int, int], list[dict[str, Any]]] = {}
    ops = diff({"a": before, "b": before}, {"a": after, "b": after}, memo)
    assert ops == [
        {"op": "add", "path": "/a/26", "value": {"seat": 51, "key": 2}},
        {"op": "add", "path": "/a/77", "value": {"seat": 151, "key": 3}},
        {"op": "add", "path": "/b/26", "value": {"seat": 51, "key": 2}},
        {"op": "add", "path": "/b/77", "value": {"seat": 151, "key": 3}},
    ]
    assert list(memo) == [(id(before), id(after))]
