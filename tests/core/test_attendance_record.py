"""The attendance record's JSON is kept between snapshots and written again only where it
changed: whatever the presence history, it equals the record written afresh."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.attendance import Attendance
from tests.core.halls import make_hall

SEATS = 6


def written_afresh(attendance: Attendance) -> dict[str, list[dict[str, Any]]]:
    return {
        d: [{"seat": p.seat, "start": p.start, "end": p.end} for p in periods]
        for d, periods in sorted(attendance.periods.items())
    }


steps = st.lists(
    st.one_of(
        st.tuples(st.just("presence"), st.integers(1, SEATS), st.booleans()),
        st.tuples(st.just("open"), st.just(0), st.just(False)),
        st.tuples(st.just("close"), st.just(0), st.just(False)),
        st.tuples(st.just("snapshot"), st.just(0), st.just(False)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_the_kept_record_equals_the_record_written_afresh(history: list[Any]) -> None:
    attendance = Attendance(make_hall(SEATS))
    now = 0.0
    for kind, seat, present in history:
        now += 1.0
        if kind == "presence":
            attendance.set_present(seat, present, now)
        elif kind == "open" and not attendance.recording:
            attendance.start_recording(now)
        elif kind == "close" and attendance.recording:
            attendance.stop_recording(now)
        before = attendance.to_json(now)["periods"]
        assert before == written_afresh(attendance)
    assert attendance.to_json(now)["periods"] == written_afresh(attendance)


def test_an_unchanged_record_is_the_same_object() -> None:
    """A refresh of the views skips a part by identity: nothing changed, nothing rebuilt."""
    attendance = Attendance(make_hall(SEATS))
    attendance.start_recording(1.0)
    attendance.set_present(1, True, 2.0)
    first = attendance.to_json(3.0)["periods"]
    assert attendance.to_json(4.0)["periods"] is first
    attendance.set_present(2, True, 5.0)
    second = attendance.to_json(6.0)["periods"]
    assert second is not first
    # The delegate at seat 1, whose periods did not change, keeps the same list.
    (unchanged,) = first
    assert second[unchanged] is first[unchanged]
    assert second == written_afresh(attendance)
