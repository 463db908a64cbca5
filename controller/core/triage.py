"""What a technician needs to find a broken unit in seconds, worked out once for every view.

From the health the drivers report (`Health`: lines and units), the runtime's fault list and
the floor, `triage` gives:

- `lines`: one summary per line (units online / total, the last poll cycle, the errors
  counted, the open faults), worst first: a line that is down, then the most units missing,
  the most open faults, the most errors (not the cycle time, which moves at every cycle);
- `units`: every unit's key ("LINE/ADDRESS", as in `health.units`), the most troubled first:
  offline (never answered or lost), then open faults, restarts and errors; the healthy ones
  after, by line and address (keys only: the units themselves are `health`'s);
- `faults`: the fault list as the runtime keeps it (`controller/faults.py`);
- `forced_mics`: the seats whose microphone the technician forced on, with since when.

Pure JSON in, JSON out, no clock: the views carry it to the console (docs/stream.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict


class LineSummary(TypedDict):
    line: str
    connected: bool
    detail: str
    online: int
    total: int
    cycle_ms: float | None
    errors: int
    reboots: int
    faults: int


class ForcedMic(TypedDict):
    seat: int
    since: float | None


class Triage(TypedDict):
    lines: list[LineSummary]
    units: list[str]
    faults: list[dict[str, Any]]
    forced_mics: list[ForcedMic]


def unit_key(unit: Mapping[str, Any]) -> str:
    """A unit's key in the views: "LINE/ADDRESS"."""
    return f"{unit.get('line', '')}/{unit.get('address')}"


def _errors(unit: Mapping[str, Any]) -> int:
    return int(unit.get("timeouts") or 0) + int(unit.get("crc_errors") or 0)


def unit_trouble(unit: Mapping[str, Any], open_faults: int = 0) -> tuple[Any, ...]:
    """The sort key of a unit: the most troubled first (ascending order). Only what changes
    with trouble orders it (not the response time, which moves at every poll): a healthy hall's
    order stays put, and the console's rows with it."""
    incompatible = unit.get("contract_state") == "incompatible"
    return (
        bool(unit.get("online")),
        not incompatible,
        -open_faults,
        not unit.get("fault"),
        -int(unit.get("reboots") or 0) - int(unit.get("lost_events") or 0),
        -_errors(unit),
        str(unit.get("line", "")),
        int(unit.get("address") or 0),
    )


def triage(
    health: Mapping[str, Any],
    floor: Mapping[str, Any],
    faults: Sequence[Mapping[str, Any]] = (),
) -> Triage:
    units = list(health.get("units") or ())
    open_by_unit: dict[tuple[str, int], int] = {}
    open_by_line: dict[str, int] = {}
    for fault in faults:
        if not fault.get("active"):
            continue
        line = str(fault.get("line", ""))
        open_by_line[line] = open_by_line.get(line, 0) + 1
        if fault.get("address") is not None:
            key = (line, int(fault["address"]))
            open_by_unit[key] = open_by_unit.get(key, 0) + 1
    summaries: dict[str, LineSummary] = {}
    for reported in health.get("lines") or ():
        name = str(reported.get("line", ""))
        summaries[name] = {
            "line": name,
            "connected": bool(reported.get("connected")),
            "detail": str(reported.get("detail") or ""),
            "online": 0,
            "total": 0,
            "cycle_ms": reported.get("cycle_ms"),
            "errors": 0,
            "reboots": 0,
            "faults": open_by_line.get(name, 0),
        }
    for unit in units:
        name = str(unit.get("line", ""))
        summary = summaries.setdefault(
            name,
            {
                "line": name,
                # A line with no report of its own (MQTT units): up while a unit is.
                "connected": False,
                "detail": "",
                "online": 0,
                "total": 0,
                "cycle_ms": None,
                "errors": 0,
                "reboots": 0,
                "faults": open_by_line.get(name, 0),
            },
        )
        summary["total"] += 1
        summary["online"] += int(bool(unit.get("online")))
        summary["errors"] += _errors(unit)
        summary["reboots"] += int(unit.get("reboots") or 0)
    reported = {str(ln.get("line", "")) for ln in health.get("lines") or ()}
    for summary in summaries.values():
        if summary["line"] not in reported:
            summary["connected"] = summary["online"] > 0
    lines = sorted(
        summaries.values(),
        key=lambda s: (
            s["connected"],
            -(s["total"] - s["online"]),
            -s["faults"],
            -s["errors"],
            s["line"],
        ),
    )
    ordered = sorted(
        units,
        key=lambda u: unit_trouble(
            u, open_by_unit.get((str(u.get("line", "")), int(u.get("address") or 0)), 0)
        ),
    )
    return {
        "lines": lines,
        "units": [unit_key(u) for u in ordered],
        "faults": [dict(f) for f in faults],
        "forced_mics": forced_mics(floor),
    }


def forced_mics(floor: Mapping[str, Any]) -> list[ForcedMic]:
    """The microphones the technician forced on, by seat, from the floor's live turns."""
    forced: list[ForcedMic] = [
        {"seat": int(turn["seat"]), "since": turn.get("started")}
        for turn in floor.get("live") or ()
        if turn.get("forced")
    ]
    return sorted(forced, key=lambda m: m["seat"])
