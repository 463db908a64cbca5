"""The console commands drive delegates and faults; bad commands change nothing."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from chamber.controller.config import UnitRef, load_config
from chamber.controller.hallgen import HallSpec, generate
from chamber.simulator import cli
from chamber.simulator.commands import Commands
from chamber.simulator.delegates import PressKind
from chamber.simulator.faults import Fate, FaultRates
from chamber.simulator.hall import SimulatedHall
from tests.simulator.conftest import small_hall

SPEC = HallSpec("sim-cmd", "Hội đồng", "HĐ", 4, "vi", serial_seats=4, tcp_seats=0, per_line=4)


async def test_commands_act_on_the_hall() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=2) as hall:
        c = Commands(hall)
        assert "press SEAT KEY" in await c.execute("help")
        assert "refused" in await c.execute("press 1 1")  # a keypad starts locked
        assert "presence-on" in await c.execute("arrive 2")
        assert "no change" in await c.execute("arrive 2")
        assert "seq 1" in await c.execute("request 3")
        assert "4 delegates arriving" in await c.execute("arrive all")
        assert "presses planned" in await c.execute("vote within=0.1 1=1 2=0")
        await c.wait()
        assert hall.truth.present() == set(hall.seats)
        votes = hall.truth.votes()
        assert votes == []  # every keypad is still locked: the truth holds only refusals
        assert all(p.key == 1 for p in hall.truth.presses if p.kind is PressKind.VOTE)
        assert "0 seats voted; no votes" in await c.execute("truth")

        assert "silent" in await c.execute("silent keypads-1/2")
        assert hall.faults.decide(UnitRef("keypads-1", 2)).fate is Fate.DROP
        assert "answering" in await c.execute("silent keypads-1/2 off")
        assert "bad CRC" in await c.execute("crc mics-1")
        assert hall.faults.decide(UnitRef("mics-1", 4)).fate is Fate.CORRUPT
        assert "0.5 s late" in await c.execute("slow seat:3 0.5")
        assert hall.faults.decide(UnitRef("keypads-1", 3)).delay_s == 0.5
        assert "cleared" in await c.execute("clear")
        assert hall.faults.decide(UnitRef("mics-1", 4)).fate is Fate.SEND
        assert "restarted" in await c.execute("reboot 4 mic")
        assert "unplugged" in await c.execute("unplug mics-1")
        assert "plugged back" in await c.execute("replug mics-1")
        assert "16 bytes of noise" in await c.execute("noise keypads-1")


async def test_bad_commands_are_refused_with_a_reason() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=2) as hall:
        c = Commands(hall)
        for line, reason in [
            ("jump 1", "unknown command"),
            ("press 99 1", "no seat 99"),
            ("press x 1", "whole number"),
            ("press 1", "usage"),
            ("silent nowhere/1", "no line 'nowhere'"),
            ("duplicate 1", "no IP unit"),
            ("restart-broker", "no control"),
            ("vote within=2 no_press=3", "fraction"),
            ('press "1', "error"),
        ]:
            reply = await c.execute(line)
            assert reply.startswith("error:"), line
            assert reason in reply, (line, reply)
        assert len(hall.truth) == 0
        assert await c.execute("   ") == ""


async def test_cli_console_reads_commands_from_a_stream(tmp_path: Path) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(generate(SPEC), encoding="utf-8")
    source = load_config(hall_file)
    stream = asyncio.StreamReader()
    out = io.StringIO()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        cli.serve(
            source,
            wire_time=False,
            seed=1,
            broker=None,
            secret=None,
            rates=FaultRates(),
            daemon_config_path=None,
            truth_path=None,
            out=out,
            stop=stop,
            ready=ready,
            commands=stream,
            stop_at_eof=True,
        )
    )
    async with asyncio.timeout(20):
        await ready.wait()
        stream.feed_data(b"arrive 1\npress 1 9\n")
        stream.feed_eof()
        assert await task == 0
    lines = out.getvalue().splitlines()
    assert "seat 1: presence-on" in lines
    assert any(line.startswith("error:") for line in lines)
