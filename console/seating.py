"""Who sits where now: the hall's seating chart as `GET /api/hall` gave it, with the delegates
the daemon reports moved to another seat since (the staff view's `attendance.seating`).

Plain functions over the view, for the chair's panels and the seat maps; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chamber.console.mirror import HallInfo


def moved_seats(state: Mapping[str, Any]) -> dict[int, str | None]:
    """Seats whose delegate is not the hall file's after a move (None: left empty)."""
    attendance = state.get("attendance")
    moved = attendance.get("seating") if isinstance(attendance, dict) else None
    out: dict[int, str | None] = {}
    for seat, delegate in (moved if isinstance(moved, dict) else {}).items():
        if str(seat).isdigit():
            out[int(seat)] = delegate if isinstance(delegate, str) else None
    return out


def seated_hall(hall: HallInfo | None, state: Mapping[str, Any]) -> HallInfo | None:
    """`hall` with each moved delegate at the seat they sit at now (the same object when
    nobody has moved)."""
    moved = moved_seats(state)
    if hall is None or not moved:
        return hall
    seats = tuple(
        replace(
            s,
            delegate_id=moved[s.number],
            name=hall.names.get(moved[s.number] or "", ""),
        )
        if s.number in moved
        else s
        for s in hall.seats
    )
    return replace(hall, seats=seats)
