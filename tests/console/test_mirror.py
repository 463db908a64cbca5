"""The console's mirror of the stream: order, duplicates, holes, refetches and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.mirror import HallInfo, Mirror, StreamError, VoteMode, VoteState

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


def presence_delta(seq: int, seat: int, present: bool, count: int) -> dict[str, Any]:
    data = {"at": float(seq), "seat": seat, "present": present, "present_count": count}
    return {"type": "delta", "seq": seq, "topic": "attendance.changed", "data": data}


def run_presence(events: list[Event]) -> tuple[list[dict[str, Any]], list[set[int]]]:
    """The deltas for `events` and the present set after each of them (the reference)."""
    present: set[int] = set()
    deltas: list[dict[str, Any]] = []
    after: list[set[int]] = [set()]
    for i, (seat, here) in enumerate(events, start=1):
        (present.add if here else present.discard)(seat)
        deltas.append(presence_delta(i, seat, here, len(present)))
        after.append(set(present))
    return deltas, after


events_st = st.lists(st.tuples(st.integers(1, 50), st.booleans()), max_size=60)


@given(events_st, st.data())
def test_deltas_in_order_with_resends_give_the_reference(events: list[Event], data: Any) -> None:
    deltas, after = run_presence(events)
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": base_state()}, 0.0)
    for i, delta in enumerate(deltas):
        mirror.feed(delta, 0.0)
        if i and data.draw(st.booleans()):
            # A resend after a reconnect: already applied, must change nothing.
            mirror.feed(deltas[data.draw(st.integers(0, i))], 0.0)
    assert set(mirror.attendance().present_seats) == after[-1]
    assert mirror.attendance().present == len(after[-1])
    assert mirror.seq == len(deltas)
    assert not mirror.stale


@given(events_st, st.data())
def test_a_refetched_snapshot_replays_the_newer_deltas(events: list[Event], data: Any) -> None:
    deltas, after = run_presence(events)
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": base_state()}, 0.0)
    for delta in deltas:
        mirror.feed(delta, 0.0)
    # A snapshot fetched earlier in the stream arrives late: the newer deltas stay applied.
    taken = data.draw(st.integers(0, len(deltas)))
    state = base_state()
    state["attendance"] = {"present_seats": sorted(after[taken]), "present": len(after[taken])}
    mirror.adopt(taken, state, 0.0)
    assert set(mirror.attendance().present_seats) == after[-1]
    assert mirror.seq == len(deltas)


def stale(mirror: Mirror) -> bool:
    return mirror.stale


def test_a_hole_or_an_unknown_topic_marks_the_mirror_stale() -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 5, "state": base_state()}, 0.0)
    mirror.feed(presence_delta(7, 3, True, 1), 0.0)
    assert stale(mirror)
    mirror.adopt(7, base_state(), 0.0)
    assert not stale(mirror)
    mirror.feed({"type": "delta", "seq": 8, "topic": "vote.created", "data": {}}, 0.0)
    assert stale(mirror)


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        {"type": "delta"},
        {"type": "delta", "seq": "3"},
        {"type": "snapshot", "seq": 1},
        {"type": "gossip", "seq": 1},
        {"type": "delta", "seq": True},
    ],
)
def test_garbage_from_the_stream_is_a_typed_error(message: object) -> None:
    with pytest.raises(StreamError):
        Mirror().feed(message, 0.0)


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
    mirror.feed(
        {"type": "delta", "seq": 1, "topic": "vote.tally", "data": {"vote_id": "s", "voted": 1}},
        0.0,
    )
    tally = {"vote_id": "o", "seat": 4, "key": 2, "voted": 1, "totals": [0, 1, 0]}
    mirror.feed({"type": "delta", "seq": 2, "topic": "vote.tally", "data": tally}, 0.0)
    secret, public = mirror.votes()
    assert secret.mode is VoteMode.SECRET
    assert (secret.voted, secret.totals, secret.choices) == (1, None, {})
    assert (public.totals, public.choices) == ((0, 1, 0), {4: 2})
    assert mirror.current_vote() == public
    assert public.state is VoteState.OPEN


def test_unit_going_offline_is_a_fault() -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "state": base_state()}, 0.0)
    unit = {"line": "kp1", "address": 4, "seat": 4, "kind": "keypad", "online": True}
    mirror.feed({"type": "delta", "seq": 1, "topic": "health.unit", "data": unit}, 0.0)
    assert not mirror.faults
    down = unit | {"online": False}
    mirror.feed({"type": "delta", "seq": 2, "topic": "health.unit", "data": down}, 0.0)
    assert [(f.line, f.address, f.seat, f.event, f.bad) for f in mirror.faults] == [
        ("kp1", 4, 4, "offline", True)
    ]
    again = unit | {"timeouts": 3}
    mirror.feed({"type": "delta", "seq": 3, "topic": "health.unit", "data": again}, 0.0)
    assert (mirror.faults[0].event, mirror.faults[0].count) == ("online", None)
    more = again | {"timeouts": 5}
    mirror.feed({"type": "delta", "seq": 4, "topic": "health.unit", "data": more}, 0.0)
    assert (mirror.faults[0].event, mirror.faults[0].count) == ("timeouts", 5)
    assert mirror.units()[0].errors == 5


def test_daemon_time_comes_from_the_latest_event() -> None:
    mirror = Mirror()
    assert mirror.daemon_now(100.0) is None
    mirror.feed({"type": "snapshot", "seq": 0, "state": base_state() | {"now": 40.0}}, 100.0)
    assert mirror.daemon_now(105.0) == 45.0
    mirror.feed(
        presence_delta(1, 1, True, 1) | {"data": {"at": 50.0, "seat": 1, "present": True}}, 104.0
    )
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


def test_a_restarted_daemon_s_snapshot_drops_the_old_run_s_deltas() -> None:
    mirror = Mirror()
    mirror.feed({"type": "snapshot", "seq": 0, "stream": "run-1", "state": base_state()}, 0.0)
    for seq in range(1, 6):
        mirror.feed(presence_delta(seq, seq, True, seq), 0.0)
    # The daemon restarted: its numbers start again, and seats 1..5 are no longer present.
    mirror.feed({"type": "snapshot", "seq": 2, "stream": "run-2", "state": base_state()}, 0.0)
    assert mirror.stream == "run-2"
    assert mirror.seq == 2
    assert mirror.attendance().present_seats == frozenset()
    mirror.feed(presence_delta(3, 9, True, 1), 0.0)
    assert mirror.attendance().present_seats == {9}
