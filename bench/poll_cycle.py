"""Figure 2: the RTU poll cycle of a line of 32 keypads at 115,200 baud, wire-time model on.

The simulator, in a process of its own, serves 32 keypads on a pty pair with its wire-time
model on: each reply reaches the daemon's end when a real RS-485 line would have delivered
its last byte. The daemon's own driver (`drivers.modbus_line.KeypadLine`) polls the line as in
service. The figure is the median cycle the driver reports in its line health
(`LineHealth.cycle_ms`) over many cycles; its floor is the spec's wire-time limit for the same
line (`protocols.keypad.poll_cycle_wire_time`: request, t3.5, turnaround, reply, t3.5 per
unit), so the ratio is what the driver and the host add to the wire.

Run alone with `python -m bench.poll_cycle [--quick]`. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import ROOT, Figure, median, percentile, report, temp_dir, write_json
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.clock import MonotonicClock
from chamber.controller.core.inputs import Input
from chamber.controller.hallgen import HallSpec, generate
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.modbus_line import KeypadLine
from chamber.protocols import keypad as kp
from chamber.simulator.hall import SimulatedHall

NUMBER = 2
TARGET_RATIO = 1.15
UNITS = 32
BAUD = 115200
LINE_ID = "keypads-1"


def _spec() -> HallSpec:
    return HallSpec(
        hall_id="line-32",
        body="Một đường dây 32 bàn phím",
        short_name="Đường dây",
        seats=UNITS,
        language="vi",
        serial_seats=UNITS,
        tcp_seats=0,
        per_line=UNITS,
        columns=8,
        rule="vn-council",
        seed=32,
    )


def _config(directory: Path) -> HallConfig:
    path = directory / "line-32.toml"
    path.write_text(generate(_spec()), encoding="utf-8")
    return load_config(path)


async def serve_units(directory: Path) -> None:
    """The child process: the 32 simulated keypads, until its stdin closes.

    The units run in a process of their own, as real keypads do: the simulator's wire-time
    waits and codec work must not share the driver's event loop and inflate its cycle.
    """
    config = _config(directory)
    (directory / "sim").mkdir(exist_ok=True)
    async with SimulatedHall(
        config, wire_time=True, seed=1, runtime_dir=directory / "sim", wall=False
    ) as sim:
        units = sim.keypad_lines[LINE_ID].units.values()
        card = any(kp.Feature.CARD_READER in u.registers.identity.features for u in units)
        device = sim.daemon_config().line(LINE_ID).device
        print(json.dumps({"device": device, "card": card}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


async def _run(directory: Path, cycles: int, warmup: int) -> dict[str, Any]:
    config = _config(directory)
    inputs: list[Input] = []

    def on_health(item: UnitHealth | LineHealth) -> None:
        return None

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.poll_cycle",
        "--serve-units",
        str(directory),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        async with asyncio.timeout(30):
            ready = json.loads(await child.stdout.readline())
        line_cfg = replace(config.line(LINE_ID), device=ready["device"], parity="none")
        daemon_config = replace(config, lines=(line_cfg,))
        line = KeypadLine.from_config(
            daemon_config, LINE_ID, MonotonicClock(), inputs.append, on_health
        )
        task = asyncio.create_task(line.run(), name="bench-line")
        try:
            async with asyncio.timeout(120):
                # The first cycles also read every unit's identity: not a steady cycle.
                await line.wait_cycles(warmup)
                loop = asyncio.get_running_loop()
                reported: list[float] = []
                between: list[float] = []
                last = loop.time()
                for _ in range(cycles):
                    await line.wait_cycles(1)
                    now = loop.time()
                    between.append((now - last) * 1000)
                    last = now
                    health = line.health()[0]
                    assert isinstance(health, LineHealth)
                    if health.cycle_ms is not None:
                        reported.append(health.cycle_ms)
                online = sum(1 for h in line.health() if isinstance(h, UnitHealth) and h.online)
                timed = [t * 1000 for t in line.send_timing.timed]
                late = [t * 1000 for t in line.send_timing.late]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        child.stdin.close()
        try:
            async with asyncio.timeout(15):
                await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()
    return {
        "reported_ms": reported,
        "between_ms": between,
        "card": ready["card"],
        "online": online,
        "timed_ms": timed,
        "late_ms": late,
    }


def measure(*, quick: bool = False) -> Figure:
    cycles = 10 if quick else 100
    load_before = os.getloadavg()[0]
    with temp_dir("poll") as tmp:
        run = asyncio.run(_run(Path(tmp), cycles, warmup=2 if quick else 5))
    limit_ms = kp.poll_cycle_wire_time(UNITS, BAUD, card=run["card"]) * 1000
    reported: list[float] = run["reported_ms"]
    timed: list[float] = run["timed_ms"] or [0.0]
    late: list[float] = run["late_ms"] or [0.0]
    value = median(reported)
    ratio = value / limit_ms
    return Figure(
        number=NUMBER,
        name=f"RTU poll cycle, {UNITS} keypads at {BAUD} baud",
        value=round(value, 2),
        unit="ms",
        target=f"<= {TARGET_RATIO}x the wire-time limit",
        meets=ratio <= TARGET_RATIO,
        floor=round(limit_ms, 2),
        ratio=round(ratio, 3),
        details={
            "cycles": len(reported),
            "p99_ms": round(percentile(reported, 0.99), 2),
            "min_ms": round(min(reported), 2),
            "max_ms": round(max(reported), 2),
            "between_cycle_ends_median_ms": round(median(run["between_ms"]), 2),
            "units_online": run["online"],
            "card_reader": run["card"],
            "per_unit_overhead_ms": round((value - limit_ms) / UNITS, 3),
            # Frames the driver had before their t3.5 ended, sent at its end: the overshoot.
            "send_overshoot_p50_ms": round(median(timed), 3),
            "send_overshoot_p99_ms": round(percentile(timed, 0.99), 3),
            "frames_sent_at_deadline": len(run["timed_ms"]),
            # Frames the driver had only after their t3.5 had ended, sent at once.
            "send_late_p50_ms": round(median(late), 3),
            "send_late_p99_ms": round(percentile(late, 0.99), 3),
            "frames_sent_at_once": len(run["late_ms"]),
            "load_1min_before": round(load_before, 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
            "quick": quick,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few cycles only")
    parser.add_argument("--serve-units", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_units is not None:
        asyncio.run(serve_units(args.serve_units))
        return 0
    figure = measure(quick=args.quick)
    write_json("poll_cycle", figure.to_json())
    report(figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
