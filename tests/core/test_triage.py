"""The technician's triage: lines worst first, units by trouble, forced microphones."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.core.triage import triage, unit_key


def unit(line: str, address: int, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "line": line,
        "address": address,
        "seat": address,
        "kind": "keypad",
        "online": True,
        "response_ms": 1.0,
        "timeouts": 0,
        "crc_errors": 0,
        "reboots": 0,
        "lost_events": 0,
        "fault": "",
        "contract_state": "current",
    }
    return base | kw


HEALTH = {
    "lines": [
        {"line": "keypads-1", "connected": True, "detail": "/dev/a", "cycle_ms": 40.0},
        {"line": "keypads-2", "connected": True, "detail": "/dev/b", "cycle_ms": 90.0},
        {"line": "mics-1", "connected": False, "detail": "unplugged", "cycle_ms": None},
    ],
    "units": [
        unit("keypads-1", 1),
        unit("keypads-1", 2, timeouts=4),
        unit("keypads-2", 1),
        unit("keypads-2", 2, online=False),
        unit("keypads-2", 3, reboots=2),
        unit("mics-1", 1, kind="mic", online=False),
        unit("mqtt", 41, kind="ip"),
    ],
}


def test_lines_come_worst_first_with_their_counts() -> None:
    t = triage(HEALTH, {"live": []})
    assert [s["line"] for s in t["lines"]] == ["mics-1", "keypads-2", "keypads-1", "mqtt"]
    by_line = {s["line"]: s for s in t["lines"]}
    assert (by_line["keypads-2"]["online"], by_line["keypads-2"]["total"]) == (2, 3)
    assert by_line["keypads-2"]["reboots"] == 2
    assert (by_line["keypads-1"]["errors"], by_line["keypads-1"]["cycle_ms"]) == (4, 40.0)
    # A line with no report of its own (the IP units' broker) is up while a unit is.
    assert by_line["mqtt"]["connected"]


def test_units_come_by_trouble_and_every_unit_is_listed() -> None:
    faults = [{"line": "keypads-1", "address": 1, "kind": "refused", "active": True}]
    t = triage(HEALTH, {"live": []}, faults)
    assert t["units"] == [
        "keypads-2/2",
        "mics-1/1",
        "keypads-1/1",  # an open fault
        "keypads-2/3",  # restarts
        "keypads-1/2",  # errors
        "keypads-2/1",
        "mqtt/41",
    ]
    assert t["faults"] == faults
    assert {s["line"]: s["faults"] for s in t["lines"]}["keypads-1"] == 1


def test_forced_microphones_are_listed_by_seat() -> None:
    floor = {
        "live": [
            {"seat": 9, "forced": True, "started": 12.0},
            {"seat": 3, "forced": False, "started": 1.0},
            {"seat": 2, "forced": True, "started": 30.0},
        ]
    }
    assert triage(HEALTH, floor)["forced_mics"] == [
        {"seat": 2, "since": 30.0},
        {"seat": 9, "since": 12.0},
    ]


UNITS = st.lists(
    st.builds(
        unit,
        st.sampled_from(["a", "b", "c"]),
        st.integers(1, 30),
        online=st.booleans(),
        timeouts=st.integers(0, 5),
        reboots=st.integers(0, 2),
    ),
    max_size=30,
    unique_by=lambda u: (u["line"], u["address"]),
)


@given(UNITS)
def test_every_unit_once_offline_before_online_and_totals_add_up(
    units: list[dict[str, Any]],
) -> None:
    t = triage({"lines": [], "units": units}, {})
    assert sorted(t["units"]) == sorted(unit_key(u) for u in units)
    online = {unit_key(u): u["online"] for u in units}
    flags = [online[k] for k in t["units"]]
    assert flags == sorted(flags)  # every offline unit before every online one
    assert sum(s["total"] for s in t["lines"]) == len(units)
    assert sum(s["online"] for s in t["lines"]) == sum(u["online"] for u in units)


@given(UNITS, st.randoms(use_true_random=False))
def test_the_order_does_not_move_with_response_or_cycle_times(
    units: list[dict[str, Any]], rng: Any
) -> None:
    """Times change at every poll: a healthy hall's rows must not be reshuffled by them."""
    lines = [{"line": n, "connected": True, "cycle_ms": 10.0} for n in ("a", "b", "c")]
    first = triage({"lines": lines, "units": units}, {})
    jittered = [u | {"response_ms": rng.uniform(0, 50)} for u in units]
    relines = [ln | {"cycle_ms": rng.uniform(0, 500)} for ln in lines]
    again = triage({"lines": relines, "units": jittered}, {})
    assert again["units"] == first["units"]
    assert [s["line"] for s in again["lines"]] == [s["line"] for s in first["lines"]]
