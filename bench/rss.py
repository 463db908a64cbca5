"""Figure 4: the daemon's resident memory while it serves a 4,096-seat hall.

The daemon runs as its own process (`chamber run`), its MQTT driver connected to the
simulator's Mosquitto with 4,096 IP units on it; the sitting is opened, every delegate is
present and a vote is taken (every seat presses within a second) before VmRSS is read from
/proc/PID/status. The run is figure 1's harness at one size (`bench.latency.run_size`); when
the whole suite runs, figure 1's 4,096-seat run is read instead of starting another.

Run alone with `python -m bench.rss [--quick]`. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.common import Figure, report, temp_dir, write_json
from bench.latency import run_size

NUMBER = 4
TARGET_MB = 200.0
SEATS = 4096


def figure_from(run: dict[str, Any], quick: bool) -> Figure:
    value = float(run["daemon_rss_mb"])
    return Figure(
        number=NUMBER,
        name=f"daemon RSS at {run['seats']} seats, after {run['repetitions']} vote(s)",
        value=value,
        unit="MB",
        target=f"<= {TARGET_MB:g} MB",
        meets=value <= TARGET_MB,
        details={"seats": run["seats"], "votes": run["repetitions"], "quick": quick},
    )


def measure(*, quick: bool = False) -> Figure:
    seats = 500 if quick else SEATS
    with temp_dir("rss") as tmp:
        run = asyncio.run(run_size(seats, 1, Path(tmp), seed=seats))
    return figure_from(run, quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500 seats instead of 4,096")
    args = parser.parse_args(argv)
    figure = measure(quick=args.quick)
    write_json("rss", figure.to_json())
    report(figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
