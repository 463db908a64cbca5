"""The console's mirror of the stream: a view, then patches in order; resends, holes, patches
that do not fit and bad input; the faults read from health changes; the applier against the
daemon's differ."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.console.mirror import HallInfo, Mirror, StreamError, VoteMode, VoteState
from chamber.console.patch import apply as console_apply
from chamber.controller.core.patch import diff

Event = tuple[int, bool]


def base_state() -> dict[str, Any]:
    return {
        "now": 0.0,
        "attendance": {"present_seats": [], "present": 0},
        "quorum": {"present": 0, "required": 26, "quorate": False},
        "active_vote": None,
        "votes": [],
        "health": {"lines": [], "units": []},
    }


def patch(seq: int, before: Any, after: Any, prev: int | None = None) -> dict[str, Any]:
    """The daemon's patch from `before` to `after`, as the stream sends it."""
    ops = json.loads(json.dumps(diff(before, after)))
    return {"type": "patch", "seq": seq, "prev": seq - 1 if prev is None else prev, "ops": ops}


def run_presence(events: list[Event]) -> tuple[list[dict[str, Any]], list[set[int]]]:
    """The patches for `events` and the present set after each of them (the reference)."""
    present: set[int] = set()
    state = base_state()
    patches: list[dict[str, Any]] = []
    after: list[set[int]] = [set()]
    for i, (seat, here) in enumerate(events, start=1):
        (present.add if here else present.discard)(seat)
        new = copy.deepcopy(state)
        new["attendance"] = {"present_seats": sorted(present), "present": len(present)}
        patches.append(patch(i, state, new))
        state = new
        after.append(set(present))
    return patches, after


events_st = st.lists(st.tuples(st.integers(1, 50), st.booleans()), max_size=60)


@given(events_st, st.data())
def test_patches_in_order_with_resends_give_the_reference(events: list[Event], data: Any) -> None:
    patches, after = run_presence(events)
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": base_state()}, 0.0)
    for i, message in enumerate(patches):
        mirror.feed(message, 0.0)
        if i and data.draw(st.booleans()):
            # A resend after a reconnect: already applied, must change nothing.
            mirror.feed(patches[data.draw(st.integers(0, i))], 0.0)
    assert set(mirror.attendance().present_seats) == after[-1]
    assert mirror.attendance().present == len(after[-1])
    assert mirror.seq == len(patches)


def test_a_hole_or_a_patch_that_does_not_fit_is_an_error_to_reconnect_on() -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 5, "state": base_state()}, 0.0)
    ahead = base_state() | {"now": 1.0}
    # Patch 7 follows 6, which never came: the mirror keeps 5, to resume after it.
    with pytest.raises(StreamError):
        mirror.feed(patch(7, base_state(), ahead), 0.0)
    assert mirror.seq == 5
    # Numbers an audience skipped (nothing changed for it) are no hole.
    mirror.feed(patch(9, base_state(), ahead, prev=5), 0.0)
    assert mirror.seq == 9
    bad = {"type": "patch", "seq": 10, "prev": 9, "ops": [{"op": "remove", "path": "/nope"}]}
    with pytest.raises(StreamError):
        mirror.feed(bad, 0.0)
    assert not mirror.ready  # only a fresh snapshot will do


def test_the_parts_that_changed_are_told_once() -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": base_state()}, 0.0)
    assert {"votes", "health", "attendance"} <= mirror.take_changes()
    assert mirror.take_changes() == frozenset()
    after = base_state() | {"quorum": {"present": 1, "required": 26, "quorate": False}}
    mirror.feed(patch(1, base_state(), after), 0.0)
    assert mirror.take_changes() == {"quorum"}


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        {"type": "patch"},
        {"type": "patch", "seq": "3"},
        {"type": "snapshot", "seq": 1},
        {"type": "gossip", "seq": 1},
        {"type": "patch", "seq": True},
        {"type": "delta", "seq": 1, "topic": "vote.tally", "data": {}},
    ],
)
def test_garbage_from_the_stream_is_a_typed_error(message: object) -> None:
    with pytest.raises(StreamError):
        Mirror().feed(message, 0.0)


def test_a_patch_before_any_snapshot_is_an_error() -> None:
    with pytest.raises(StreamError):
        Mirror().feed(patch(1, base_state(), base_state() | {"now": 2.0}), 0.0)


json_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys_st = st.sampled_from(
    ["sitting", "attendance", "quorum", "votes", "active_vote", "floor", "health", "now"]
)


@given(json_st, json_st)
def test_the_console_applies_what_the_daemon_diffs(before: Any, after: Any) -> None:
    ops = json.loads(json.dumps(diff(before, after)))
    result = console_apply(copy.deepcopy(before), ops)
    assert result == after


@given(st.dictionaries(keys_st, json_st))
def test_views_never_crash_on_odd_state(state: dict[str, Any]) -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": state}, 0.0)
    mirror.sitting()
    mirror.attendance()
    mirror.votes()
    mirror.current_vote()
    mirror.floor()
    mirror.units()
    mirror.lines()


def test_secret_tally_keeps_no_totals_and_open_tally_keeps_choices() -> None:
    state = base_state()
    state["votes"] = [
        {"vote_id": "s", "mode": "secret", "state": "open", "tally": {"voted": 0}},
        {"vote_id": "o", "mode": "open", "state": "open", "tally": {"voted": 0}, "choices": []},
    ]
    state["active_vote"] = "o"
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": state}, 0.0)
    after = copy.deepcopy(state)
    after["votes"][0]["tally"]["voted"] = 1
    after["votes"][1]["tally"] = {"voted": 1, "totals": [0, 1, 0]}
    after["votes"][1]["choices"] = [{"seat": 4, "key": 2}]
    mirror.feed(patch(1, state, after), 0.0)
    secret, public = mirror.votes()
    assert secret.mode is VoteMode.SECRET
    assert (secret.voted, secret.totals, secret.choices) == (1, None, {})
    assert (public.totals, public.choices) == ((0, 1, 0), {4: 2})
    assert mirror.current_vote() == public
    assert public.state is VoteState.OPEN


def with_unit(state: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(state)
    new["health"]["units"] = [unit]
    return new


def test_the_triage_is_the_daemons_and_units_carry_their_trouble() -> None:
    """The fault list, the line summary and the units' order come from the daemon's
    triage: the console works none of them out again."""
    mirror = Mirror()
    state = base_state()
    mirror.feed({"type": "snapshot", "seq": 0, "state": state}, 0.0)
    assert mirror.triage().faults == ()
    unit = {"line": "kp1", "address": 4, "seat": 4, "kind": "keypad", "online": False}
    new = with_unit(state, unit | {"timeouts": 3, "contract": "1.1", "contract_state": "older"})
    new["triage"] = {
        "lines": [{"line": "kp1", "connected": True, "online": 0, "total": 1, "errors": 3}],
        "units": ["kp1/4"],
        "faults": [
            {
                "id": "kp1/4/offline",
                "line": "kp1",
                "address": 4,
                "seat": 4,
                "kind": "offline",
                "first_at": 12.5,
                "last_at": 12.5,
                "count": 1,
                "active": True,
                "acknowledged": False,
                "detail": "lost",
            }
        ],
        "forced_mics": [{"seat": 7, "since": 3.0}],
    }
    mirror.feed(patch(1, state, new), 0.0)
    assert "triage" in mirror.take_changes()
    t = mirror.triage()
    assert [(s.line, s.online, s.total, s.errors) for s in t.lines] == [("kp1", 0, 1, 3)]
    assert t.unit_order == ("kp1/4",)
    (fault,) = t.faults
    assert (fault.id, fault.seat, fault.first_at, fault.active, fault.acknowledged) == (
        "kp1/4/offline",
        4,
        12.5,
        True,
        False,
    )
    assert [(m.seat, m.since) for m in t.forced_mics] == [(7, 3.0)]
    (u,) = mirror.units()
    assert (u.key, u.errors, u.contract, u.contract_state) == ("kp1/4", 3, "1.1", "older")


def test_daemon_time_comes_from_the_latest_message() -> None:
    mirror = Mirror()
    assert mirror.daemon_now(100.0) is None
    snap = {"type": "snapshot", "seq": 0, "clock": 40.0, "state": base_state()}
    mirror.feed(snap, 100.0)
    assert mirror.daemon_now(105.0) == 45.0
    mirror.feed(patch(1, base_state(), base_state() | {"now": 50.0}) | {"clock": 50.0}, 104.0)
    assert mirror.daemon_now(105.0) == 51.0


def test_hall_names_are_normalised_to_nfc() -> None:
    decomposed = "Nguye\u0302\u0303n Thi\u0323 Ha\u0300"  # the same name, in NFD
    hall = HallInfo.from_json(
        {
            "language": "vi",
            "delegates": [{"id": "d1", "name": decomposed}],
            "seats": [{"number": 1, "row": 1, "col": 1, "delegate": "d1"}],
        }
    )
    assert hall.seats[0].name == "Nguyễn Thị Hà"


def test_a_restarted_daemon_s_snapshot_replaces_the_old_run_s_view() -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "stream": "run-1", "state": base_state()}, 0.0)
    patches, _ = run_presence([(seat, True) for seat in range(1, 6)])
    for message in patches:
        mirror.feed(message, 0.0)
    # The daemon restarted: its numbers start again, and seats 1..5 are no longer present.
    mirror.feed({"type": "snapshot", "seq": 2, "stream": "run-2", "state": base_state()}, 0.0)
    assert mirror.stream == "run-2"
    assert mirror.seq == 2
    assert mirror.attendance().present_seats == frozenset()
    nine = copy.deepcopy(base_state())
    nine["attendance"] = {"present_seats": [9], "present": 1}
    mirror.feed(patch(3, base_state(), nine), 0.0)
    assert mirror.attendance().present_seats == {9}


vote_states = st.sampled_from(["prepared", "open", "hold", "closed", "published", "cancelled"])


@given(st.lists(st.lists(vote_states, max_size=4), min_size=1, max_size=12), st.data())
def test_votes_read_once_per_view_follow_every_patch_and_snapshot(
    steps: list[list[str]], data: Any
) -> None:
    """The votes the mirror reads (kept for the view's number) are always those of the view it
    holds: after each patch, after a resend, and after a snapshot of the same number."""
    m = Mirror()
    state = base_state()
    m.adopt(0, state, 0.0, stream="a")
    for seq, states in enumerate(steps, start=1):
        new = copy.deepcopy(state)
        new["votes"] = [
            {"vote_id": f"v{i}", "title": f"T{i}", "state": s} for i, s in enumerate(states)
        ]
        assert [v.state.value for v in m.votes()] == [v["state"] for v in state["votes"]]
        m.feed(patch(seq, state, new), 0.0)
        assert [v.state.value for v in m.votes()] == states
        if data.draw(st.booleans()):
            m.feed(patch(seq, state, new), 0.0)  # a resend changes nothing
            assert [v.state.value for v in m.votes()] == states
        if data.draw(st.booleans()):
            # A snapshot of the same number with other votes (a restarted daemon): read anew.
            other = copy.deepcopy(new)
            other["votes"] = [{"vote_id": "x", "title": "X", "state": "open"}]
            m.adopt(seq, other, 0.0, stream="b")
            assert [v.vote_id for v in m.votes()] == ["x"]
            m.adopt(seq, new, 0.0, stream="a")
        state = new
