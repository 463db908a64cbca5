"""Figure 8: the daemon's own CPU time per accepted press, end to end, at 4,096 seats.

Every press of figure 1's 4,096-seat run goes in over MQTT, is journaled, lights its LED and
sends its confirmation, and reaches the stream as a patch. The daemon's CPU time (user +
system, all its threads, from /proc/PID/stat) from the first press of a vote to the moment
every press is counted, divided by the presses counted, is one repetition's figure; the
figure is the median over the votes. Start-up, the sitting's opening and the registration of
presence fall outside the window. What the daemon does anyway in that window (health reports,
heartbeats, the wall's MQTT twin) is in it; its CPU per second at rest is reported beside it.

The target, 150 us per press, is what 8,192 seats pressing within one second need from one
core. The run is figure 1's harness at one size (`bench.latency.run_size`); when the whole
suite runs, figure 1's 4,096-seat run is read instead of starting another.

Run alone with `python -m bench.press_cpu [--quick]`. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.common import Figure, report, temp_dir, write_json
from bench.latency import run_size

NUMBER = 8
TARGET_US = 150.0
SEATS = 4096


def figure_from(run: dict[str, Any], quick: bool) -> Figure:
    value = float(run["cpu_per_press_us"])
    return Figure(
        number=NUMBER,
        name=f"daemon CPU per accepted press at {run['seats']} seats",
        value=value,
        unit="us",
        target=f"<= {TARGET_US:g} us",
        meets=value <= TARGET_US,
        details={
            "seats": run["seats"],
            "votes": run["repetitions"],
            "idle_cpu_ms_per_s": run["idle_cpu_ms_per_s"],
            "by_vote": [
                {k: v[k] for k in ("vote_id", "tally_voted", "daemon_cpu_s", "cpu_per_press_us")}
                for v in run["runs"]
            ],
            "quick": quick,
        },
    )


def measure(*, quick: bool = False) -> Figure:
    seats = 500 if quick else SEATS
    with temp_dir("press-cpu") as tmp:
        run = asyncio.run(run_size(seats, 2 if quick else 3, Path(tmp), seed=seats))
    return figure_from(run, quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500 seats instead of 4,096")
    args = parser.parse_args(argv)
    figure = measure(quick=args.quick)
    write_json("press_cpu", figure.to_json())
    report(figure)
    print(f"  at rest: {figure.details['idle_cpu_ms_per_s']} ms of CPU per second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
