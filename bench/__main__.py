"""`python -m bench` (`make bench`): every figure of the benchmark suite, one table, JSON.

Figures (docs/benchmarks.md says what limits each):
1 press -> counted on the WebSocket stream, beside a plain MQTT subscriber's echo (latency)
2 RTU poll cycle of 32 keypads, beside the spec's wire-time limit (poll_cycle)
3 key events/s through the meeting core at 4,096 seats (core_rate)
4 daemon RSS at 4,096 seats (rss; read from figure 1's 4,096-seat run when both run)
5 restart + replay of a day's journal (replay)
7 stream -> screen on the operator console, demo hall's health traffic (console_latency)
8 daemon CPU per accepted press at 4,096 seats (press_cpu; read from figure 1's run when both run)

`--quick` runs each figure's smallest configuration (to show the suite works, not to
measure); `--only N` (repeatable) runs those figures and refreshes them in bench.json, which
keeps the other figures of the last full run, each with its date. Results go to
bench/results/bench.json and one JSON per figure. It measures; it asserts nothing, and exits 0
even when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from bench import console_latency, core_rate, latency, poll_cycle, press_cpu, replay, rss
from bench.common import RESULTS, Figure, machine, write_json

NAMES = {
    1: "latency",
    2: "poll_cycle",
    3: "core_rate",
    4: "rss",
    5: "replay",
    7: "console_latency",
    8: "press_cpu",
}


def run(only: list[int], quick: bool, results: Path) -> list[Figure]:
    figures: list[Figure] = []
    lat_runs: dict[int, dict[str, Any]] | None = None
    for number in sorted(only):
        if number == 1:
            sizes = (50,) if quick else latency.SIZES
            lat_runs = asyncio.run(latency.measure_async(sizes, 2 if quick else 5))
            figure = latency.figure_from(lat_runs, quick)
        elif number == 2:
            figure = poll_cycle.measure(quick=quick)
        elif number == 3:
            figure = core_rate.measure(quick=quick)
        elif number == 4:
            if lat_runs is not None and rss.SEATS in lat_runs:
                figure = rss.figure_from(lat_runs[rss.SEATS], quick)
            else:
                figure = rss.measure(quick=quick)
        elif number == 5:
            figure = replay.measure(quick=quick)
        elif number == 7:
            figure = console_latency.measure(quick=quick)
        elif lat_runs is not None and press_cpu.SEATS in lat_runs:
            figure = press_cpu.figure_from(lat_runs[press_cpu.SEATS], quick)
        else:
            figure = press_cpu.measure(quick=quick)
        write_json(NAMES[number], figure.to_json(), results)
        figures.append(figure)
        print(f"  done: figure {number}", file=sys.stderr, flush=True)
    return figures


def table(figures: list[Figure]) -> str:
    rows = [("#", "figure", "value", "floor", "ratio", "target", "result")]
    for f in figures:
        rows.append(
            (
                str(f.number),
                f.name,
                f"{f.value:g} {f.unit}",
                "-" if f.floor is None else f"{f.floor:g} {f.unit}",
                "-" if f.ratio is None else f"{f.ratio:.2f}",
                f.target,
                "pass" if f.meets else "MISS",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="chamber's benchmarks")
    parser.add_argument("--quick", action="store_true", help="smallest configurations")
    parser.add_argument("--only", type=int, action="append", choices=sorted(NAMES))
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = args.only or sorted(NAMES)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    figures = run(only, args.quick, args.results)
    fresh = {f.number: f.to_json() | {"date": started, "quick": args.quick} for f in figures}
    # `--only N` refreshes figure N and keeps the others of the last full run (each with its
    # own date), so that bench.json always holds the whole table.
    kept: dict[int, dict[str, Any]] = {}
    previous = args.results / "bench.json"
    if args.only and not args.quick and previous.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            old = json.loads(previous.read_text(encoding="utf-8"))
            kept = {int(f["number"]): f for f in old["figures"] if not f.get("quick")}
    merged = kept | fresh
    summary = {
        "date": started,
        "quick": args.quick,
        "machine": machine(),
        "figures": [merged[n] for n in sorted(merged)],
    }
    path = write_json("bench", summary, args.results)
    print(table(figures))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
