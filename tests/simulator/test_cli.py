"""`chamber sim`: standalone run, what it prints, and the daemon-side config it writes."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest

from chamber.controller.config import LineKind, load_config
from chamber.controller.hallgen import HallSpec, generate
from chamber.simulator import cli
from chamber.simulator.faults import FaultRates


def _hall_file(tmp_path: Path) -> Path:
    spec = HallSpec(
        hall_id="sim-cli",
        body="Hội đồng nhân dân tỉnh thử nghiệm",
        short_name="HĐND thử",
        seats=6,
        language="vi",
        serial_seats=2,
        tcp_seats=2,
        per_line=2,
        seed=3,
    )
    path = tmp_path / "hall.toml"
    path.write_text(generate(spec), encoding="utf-8")
    return path


def test_arguments_parse() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--config", "h.toml", "--no-wire-time", "--seed", "9"])
    assert args.wire_time is False
    assert args.seed == 9
    assert cli.parse_broker("127.0.0.1:1883").port == 1883
    with pytest.raises(ValueError, match="HOST:PORT"):
        cli.parse_broker("localhost")


def test_a_bad_config_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall]\nid = 'x'\n", encoding="utf-8")
    assert cli.run(parser.parse_args(["--config", str(bad)])) == 2


async def test_serve_prints_endpoints_and_writes_a_daemon_config(tmp_path: Path) -> None:
    source = load_config(_hall_file(tmp_path))
    out = io.StringIO()
    stop = asyncio.Event()
    ready = asyncio.Event()
    daemon_path = tmp_path / "daemon.toml"
    truth_path = tmp_path / "truth.json"
    task = asyncio.create_task(
        cli.serve(
            source,
            wire_time=False,
            seed=1,
            broker=None,
            secret=None,
            rates=FaultRates(),
            daemon_config_path=daemon_path,
            truth_path=truth_path,
            out=out,
            stop=stop,
            ready=ready,
        )
    )
    async with asyncio.timeout(30):
        await ready.wait()
        assert "running" in out.getvalue()
        daemon = load_config(daemon_path)
        assert (await asyncio.to_thread(daemon_path.stat)).st_mode & 0o077 == 0
        # The same hall, with every line and the broker rewired to the simulator.
        assert daemon.hall == source.hall
        assert daemon.units == source.units
        for line in daemon.lines:
            original = source.line(line.id)
            assert line.kind is original.kind
            if line.kind is LineKind.MODBUS_TCP:
                assert line.host == "127.0.0.1"
                assert line.port != original.port
                assert f"{line.host}:{line.port}" in out.getvalue()
            else:
                assert line.device != original.device
                assert await asyncio.to_thread(Path(line.device or "").exists)
                assert str(line.device) in out.getvalue()
        assert daemon.broker.host == "127.0.0.1"
        assert daemon.broker.username is not None
        stop.set()
        assert await task == 0
    truth = json.loads(await asyncio.to_thread(truth_path.read_text, encoding="utf-8"))
    assert truth == {"presses": []}
