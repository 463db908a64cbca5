"""`chamber sim --config hall.toml`: run a simulated hall standalone until interrupted.

It reads the wiring of the same hall file as the daemon (its lines, units and broker:
`drivers.topology`; the daemon checks the rest), brings up every line, gateway and IP unit,
prints what it exposes (serial device paths, gateway ports, the broker) and writes the daemon-side
config (the same hall, rewired to the simulator) as TOML to a file it names, so that
`chamber run --config THAT` drives the simulated hall. SIGINT or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any, TextIO

from chamber.drivers.mosquitto import load_or_create_secret
from chamber.drivers.topology import Topology, TopologyError, load_topology
from chamber.simulator.autopilot import Autopilot, Temperament
from chamber.simulator.commands import Commands
from chamber.simulator.faults import FaultRates
from chamber.simulator.hall import SimulatedHall, SimulatorError
from chamber.simulator.ipunits import BrokerAddress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="the hall's TOML file")
    parser.add_argument(
        "--no-wire-time",
        dest="wire_time",
        action="store_false",
        help="answer at once instead of at the real line's speed",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument(
        "--broker", metavar="HOST:PORT", help="an MQTT broker to use (default: run one)"
    )
    parser.add_argument(
        "--secret-file", type=Path, help="the hall secret the IP units' passwords derive from"
    )
    parser.add_argument(
        "--daemon-config",
        type=Path,
        help="where to write the daemon-side config (default: beside the pty links)",
    )
    parser.add_argument("--crc-rate", type=float, default=0.0, help="share of corrupted replies")
    parser.add_argument("--silent-rate", type=float, default=0.0, help="share of dropped replies")
    parser.add_argument("--truth", type=Path, help="write the ground truth here as JSON on exit")
    parser.add_argument(
        "--autopilot",
        action="store_true",
        help="simulated delegates arrive, vote when their keys unlock and ask for the floor",
    )


def parse_broker(text: str) -> BrokerAddress:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--broker wants HOST:PORT, got {text!r}")
    return BrokerAddress(host, int(port))


def run(args: argparse.Namespace) -> int:
    try:
        config = load_topology(args.config)
        broker = parse_broker(args.broker) if args.broker else None
        secret = load_or_create_secret(args.secret_file) if args.secret_file else None
        rates = FaultRates(crc=args.crc_rate, silent=args.silent_rate)
    except (TopologyError, ValueError) as exc:
        print(f"chamber sim: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(
            serve(
                config,
                wire_time=args.wire_time,
                seed=args.seed,
                broker=broker,
                secret=secret,
                rates=rates,
                daemon_config_path=args.daemon_config,
                truth_path=args.truth,
                autopilot=Temperament() if args.autopilot else None,
            )
        )
    except (SimulatorError, OSError) as exc:
        print(f"chamber sim: {exc}", file=sys.stderr)
        return 1


async def serve(
    config: Topology,
    *,
    wire_time: bool,
    seed: int,
    broker: BrokerAddress | None,
    secret: bytes | None,
    rates: FaultRates,
    daemon_config_path: Path | None,
    truth_path: Path | None,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    commands: asyncio.StreamReader | None = None,
    stop_at_eof: bool = False,
    autopilot: Temperament | None = None,
) -> int:
    """Run the hall until `stop` is set (or a signal comes); `ready` is set once it is up.

    Commands are read from `commands` (default: standard input); with `stop_at_eof` the run
    ends when they do, which makes a scripted run. With an `autopilot` temperament the simulated
    delegates act by themselves (simulator.autopilot), seeded by `seed`."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            SimulatedHall(
                config, wire_time=wire_time, seed=seed, broker=broker, secret=secret, rates=rates
            ) as hall,
            contextlib.AsyncExitStack() as stack,
        ):
            if autopilot is not None:
                pilot = Autopilot(hall, seed=seed, temperament=autopilot)
                await stack.enter_async_context(pilot)
            path = daemon_config_path or hall.runtime_dir / "daemon.toml"
            await asyncio.to_thread(_write, path, config_toml(hall.daemon_config()))
            print(f"simulated hall {config.hall_id}: {len(hall.seats)} seats", file=out)
            for endpoint in hall.endpoints():
                print(f"  {endpoint.describe()}", file=out)
            print(f"daemon config: {path}", file=out)
            if autopilot is not None:
                print("autopilot: delegates arrive, vote and ask for the floor", file=out)
            print("running; type help for commands; Ctrl-C stops", file=out, flush=True)
            if ready is not None:
                ready.set()
            reader = asyncio.ensure_future(_console(Commands(hall), commands, out))
            if stop_at_eof:
                reader.add_done_callback(lambda _: stop.set())
            try:
                await stop.wait()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            if truth_path is not None:
                await asyncio.to_thread(_write, truth_path, hall.truth.to_json())
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0


async def _stdin() -> tuple[asyncio.StreamReader, asyncio.BaseTransport] | None:
    """Standard input as a stream, when it is a terminal or a pipe (not a plain file)."""
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, ValueError, OSError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
        return None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", closefd=False)
    )
    return reader, transport


async def _console(commands: Commands, source: asyncio.StreamReader | None, out: TextIO) -> None:
    """Carry out each line read from `source` (standard input by default) until its end."""
    transport: asyncio.BaseTransport | None = None
    if source is None:
        opened = await _stdin()
        if opened is None:
            return
        source, transport = opened
    try:
        while line := await source.readline():
            reply = await commands.execute(line.decode("utf-8", "replace"))
            if reply:
                print(reply, file=out, flush=True)
    finally:
        if transport is not None:
            transport.close()


def _write(path: Path, text: str) -> None:
    # Owner-only: the daemon-side config carries the controller's broker password.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def config_toml(config: Topology) -> str:
    """The hall's TOML with its lines and broker replaced by `config`'s (a rewired copy).

    Everything else is copied from the source file untouched, so the daemon validates the
    same hall the simulator serves.
    """
    if config.source is None:
        raise SimulatorError("the hall config has no source file to rewrite")
    data: dict[str, Any] = tomllib.loads(config.source.read_text(encoding="utf-8"))
    data["lines"] = [
        {
            k: v
            for k, v in {
                "id": ln.id,
                "kind": ln.kind.value,
                "device": ln.device,
                "baud": ln.baud,
                "host": ln.host,
                "port": ln.port,
                "parity": ln.parity,
            }.items()
            if v is not None
        }
        for ln in config.lines
    ]
    b = config.broker
    mqtt = {
        k: v
        for k, v in {
            "host": b.host,
            "port": b.port,
            "username": b.username,
            "password": b.password,
            "tls": b.tls,
            "ca_file": b.ca_file,
        }.items()
        if v is not None
    }
    if mqtt.get("host") is not None:
        data["mqtt"] = mqtt
    return dumps_toml(data)


def dumps_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for the config's shapes: tables, arrays of tables, inline tables."""
    out: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            # JSON escaping is a subset TOML basic strings accept; UTF-8 stays as is.
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"cannot write {type(v).__name__} as TOML")

    def table(prefix: str, t: dict[str, Any], array: bool = False) -> None:
        scalars = {k: v for k, v in t.items() if not _is_table(v) and not _is_table_array(v)}
        if prefix:
            out.append(f"[[{prefix}]]" if array else f"[{prefix}]")
        out.extend(f"{_key(k)} = {value(v)}" for k, v in scalars.items())
        out.append("")
        for k, v in t.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if _is_table(v):
                table(name, v)
            elif _is_table_array(v):
                for item in v:
                    table(name, item, array=True)

    table("", data)
    return "\n".join(out).lstrip("\n")


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _key(k: str) -> str:
    bare = k.replace("-", "").replace("_", "").isalnum() and k.isascii()
    return k if bare else json.dumps(k)
