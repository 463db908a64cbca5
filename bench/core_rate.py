"""Figure 3: key events per second through the meeting core, at 4,096 seats, on one core.

A 4,096-seat hall: the sitting is opened and every delegate is present; then, for each kind of
vote (open with change-until-close, secret), a vote is opened and rounds of presses are handed
to `MeetingCore.handle` one by one: every seat presses, then every seat changes its mind, and
so on. The rate is presses / seconds of `handle` alone (the inputs are built beforehand), the
median of several repetitions. The effects are what the runtime would dispatch; they are built
and returned as in service.

Run alone with `python -m bench.core_rate [--quick]`. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, median, report, sized_config, temp_dir, write_json
from chamber.controller.config import HallConfig
from chamber.controller.core.inputs import (
    CloseVote,
    CreateVote,
    Input,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    VoteKeyPressed,
)
from chamber.controller.core.model import VoteMode
from chamber.controller.core.sitting import MeetingCore

NUMBER = 3
TARGET = 50_000.0
SEATS = 4096


def _presses(seats: int, rounds: int, start: float, seed: int) -> list[Input]:
    rng = random.Random(seed)
    out: list[Input] = []
    t = start
    for _ in range(rounds):
        for seat in range(1, seats + 1):
            t += 0.00001
            out.append(VoteKeyPressed(at=t, seat=seat, key=rng.randint(1, 3)))
    return out


def one_run(config: HallConfig, mode: VoteMode, rounds: int, seed: int) -> dict[str, Any]:
    core = MeetingCore(config.hall)
    seats = len(config.hall.seats)
    t = 1.0
    core.handle(OpenSitting(at=t, sitting_id="bench", title="Kỳ họp đo tốc độ"))
    for seat in range(1, seats + 1):
        core.handle(PresenceChanged(at=t, seat=seat, present=True))
    core.handle(
        CreateVote(
            at=t,
            vote_id="v1",
            title="Biểu quyết thông qua nghị quyết",
            mode=mode,
            change_until_close=True,
            duration_s=3600.0,
        )
    )
    core.handle(OpenVote(at=t, vote_id="v1"))
    presses = _presses(seats, rounds, t, seed)
    handle = core.handle
    gc.collect()
    started = time.perf_counter()
    effects = 0
    for inp in presses:
        effects += len(handle(inp))
    elapsed = time.perf_counter() - started
    core.handle(CloseVote(at=presses[-1].at + 1, vote_id="v1"))
    vote = core.votes["v1"]
    assert vote.result is not None
    return {
        "presses": len(presses),
        "seconds": elapsed,
        "per_s": len(presses) / elapsed,
        "effects": effects,
        "voted": len(vote.participants),
    }


def measure(*, quick: bool = False, directory: Path | None = None) -> Figure:
    repetitions = 3 if quick else 7
    rounds = 1 if quick else 5
    seats = 512 if quick else SEATS
    with temp_dir("core") as tmp:
        config = sized_config(seats, directory or Path(tmp))
        by_mode: dict[str, dict[str, Any]] = {}
        for mode in (VoteMode.OPEN, VoteMode.SECRET):
            runs = [one_run(config, mode, rounds, seed) for seed in range(repetitions)]
            by_mode[mode.value] = {
                "median_per_s": round(median([r["per_s"] for r in runs])),
                "min_per_s": round(min(r["per_s"] for r in runs)),
                "max_per_s": round(max(r["per_s"] for r in runs)),
                "presses_per_run": runs[0]["presses"],
                "effects_per_press": round(runs[0]["effects"] / runs[0]["presses"], 2),
                "repetitions": repetitions,
            }
    # The figure is the slower of the two kinds of vote: the hall must hold both.
    value = min(m["median_per_s"] for m in by_mode.values())
    return Figure(
        number=NUMBER,
        name=f"key events/s through the core, {seats} seats",
        value=float(value),
        unit="presses/s",
        target=f">= {TARGET:,.0f}",
        meets=value >= TARGET,
        details={"seats": seats, "by_mode": by_mode, "quick": quick},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smallest configuration")
    args = parser.parse_args(argv)
    figure = measure(quick=args.quick)
    write_json("core_rate", figure.to_json())
    report(figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
