"""`chamber sim --autopilot`: the standalone simulator with its delegates acting by themselves."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chamber.controller.cli import build_parser
from chamber.controller.config import load_config
from chamber.controller.hallgen import generate
from chamber.simulator.autopilot import Temperament
from chamber.simulator.cli import serve
from chamber.simulator.faults import FaultRates


@pytest.fixture
def workdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="chamber-demo-test-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_the_flag_is_there_and_off_by_default() -> None:
    parser = build_parser("sim")
    assert parser.parse_args(["sim", "--config", "h.toml", "--autopilot"]).autopilot is True
    assert parser.parse_args(["sim", "--config", "h.toml"]).autopilot is False


async def test_sim_with_autopilot_seats_its_delegates_and_records_them(workdir: Path) -> None:
    from chamber.controller.hallgen import demo_spec

    spec = demo_spec(3, seed=5)  # three serial seats: no broker needed
    path = workdir / "hall.toml"
    path.write_text(generate(spec), encoding="utf-8")
    out = io.StringIO()
    stop, ready = asyncio.Event(), asyncio.Event()
    commands = asyncio.StreamReader()
    run = asyncio.create_task(
        serve(
            load_config(path),
            wire_time=False,
            seed=5,
            broker=None,
            secret=None,
            rates=FaultRates(),
            daemon_config_path=workdir / "daemon.toml",
            truth_path=workdir / "truth.json",
            out=out,
            stop=stop,
            ready=ready,
            commands=commands,
            autopilot=Temperament(arrive_within_s=0.0, floor_every_s=None),
        )
    )
    await asyncio.wait_for(ready.wait(), 20)
    # Arrivals at offset 0 were queued before the hall said it was ready: they run before
    # the hall sees `stop`.
    stop.set()
    commands.feed_eof()
    assert await asyncio.wait_for(run, 20) == 0
    assert "autopilot" in out.getvalue()
    presses = json.loads((workdir / "truth.json").read_text(encoding="utf-8"))["presses"]
    arrived = {p["seat"] for p in presses if p["kind"] == "presence-on"}
    assert arrived == {1, 2, 3}
    # No vote was open: nobody pressed a voting key.
    assert not [p for p in presses if p["kind"] == "vote"]
