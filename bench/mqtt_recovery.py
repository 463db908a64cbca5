"""MQTT recovery after a broker restart: broker back -> the controller reads a press again.

`python -m bench.mqtt_recovery [--quick] [--sizes 50,500,4096] [--restarts 5]`

For each hall size: the hall's Mosquitto (the embedded broker's configuration); the
controller's MQTT driver in its own process, as in the daemon, holding every seat's retained
state (LEDs, lock, ring, microphone: four publications a seat, all published again after each
reconnection) and settling each press at once as the runtime does after its commit; one
simulated IP unit per seat but one (each its own connection, reconnecting with its own
backoff); and, on the last seat, a probe unit in a process of its own (a real unit has its own
CPU) that reconnects at once and presses as soon as the controller's status says online, as
the contract's resend rule has it.

Each trial kills the broker (SIGKILL; its supervisor restarts it after 0.2 s). Measured from
the kill plus those 0.2 s, the earliest the broker can be back (so each figure is an upper
bound): `subscribed`, the controller connected and subscribed again; `probe sent`, the probe's
press published; `first press`, that press read by the controller. All include the whole hall
reconnecting at the same time.
Target: the first press within 1 s at every size. Medians over the restarts; JSON in
bench/results/mqtt_recovery.json. Times are CLOCK_MONOTONIC, which both processes share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from bench.common import RESULTS, ROOT, Figure, machine, median, report, sized_config, temp_dir
from bench.common import write_json as write_result
from chamber.controller.config import load_config
from chamber.controller.core.clock import MonotonicClock
from chamber.controller.core.effects import KeypadLeds, KeypadLock, MicSwitch, RingShow, RingState
from chamber.controller.core.inputs import Input
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.mosquitto import (
    CONTROLLER_USER,
    WALL_USER,
    BrokerEndpoint,
    hall_broker,
    unit_password,
)
from chamber.drivers.mqtt import MqttUnits, ip_seats
from chamber.protocols import mqtt as wire
from chamber.simulator.hall import SimulatedHall
from chamber.simulator.ipunits import BrokerAddress, unit_credentials

SIZES = (50, 500, 4096)
RESTARTS = 5
TARGET_S = 1.0
NUMBER = 6
NAME = "mqtt_recovery"
SECRET = b"bench secret, not a hall's: 32 b"
WAIT_S = 120.0


# --- the controller, in its own process -------------------------------------------------------


async def controller_main(hall_file: Path, port: int) -> None:
    """The driver as the daemon runs it; one JSON line per event on stdout, monotonic times."""
    config = load_config(hall_file)
    endpoint = BrokerEndpoint(
        "127.0.0.1", port, CONTROLLER_USER, unit_password(SECRET, CONTROLLER_USER)
    )
    driver: MqttUnits

    def say(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps({"t": time.monotonic(), **data}) + "\n")
        sys.stdout.flush()

    def sink(inp: Input) -> None:
        say({"seat": getattr(inp, "seat", None), "origin": getattr(inp, "origin", "")})
        driver.settled([inp])  # the runtime settles each batch after its commit

    def health(item: UnitHealth | LineHealth) -> None:
        if isinstance(item, LineHealth):
            say({"connected": item.connected})

    driver = MqttUnits.from_config(config, endpoint, MonotonicClock(), sink, health)
    for seat in sorted(driver.seats):
        driver.send(KeypadLock(seat, locked=False, keys=3))
        driver.send(KeypadLeds(seat, lit=(), present=True))
        driver.send(RingShow(seat, RingState.OFF))
        driver.send(MicSwitch(seat, on=False))
    await driver.run()


class ControllerProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.events.append(json.loads(line))
            self.changed.set()

    async def until(self, after: float, **match: Any) -> float:
        """The time of the first event after `after` that has every member of `match`."""
        while True:
            for event in self.events:
                if event["t"] >= after and all(event.get(k) == v for k, v in match.items()):
                    return float(event["t"])
            if self.proc.returncode is not None:
                raise RuntimeError("the controller process exited")
            self.changed.clear()
            await self.changed.wait()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def controller_process(hall_file: Path, port: int) -> AsyncIterator[ControllerProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.mqtt_recovery",
        "--controller",
        str(hall_file),
        str(port),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    controller = ControllerProcess(proc)
    try:
        yield controller
    finally:
        await controller.stop()


# --- the probe unit, in its own process (a real unit has its own CPU) --------------------------


class Probe:
    """One unit that reconnects at once and presses when the controller says it is online.

    Run by `probe_main` in a process of its own: in the bench's process it would wait for the
    CPU behind the simulated hall's thousands of clients reconnecting at the same moment.
    A line on stdin asks for a press; each press is printed as one JSON line."""

    def __init__(self, hall_id: str, seat: int, host: str, port: int) -> None:
        self.topics = wire.Topics(hall_id)
        self.seat = seat
        self.host = host
        self.port = port
        self.username, self.password = unit_credentials(SECRET, seat)
        self.seq = 0
        self.want: asyncio.Queue[None] = asyncio.Queue()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    identifier=self.username,
                ) as client:
                    await client.subscribe(self.topics.topic(wire.MessageKind.CONTROLLER_STATUS), 1)
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        decoded = self.topics.decode(str(message.topic), payload)
                        online = isinstance(decoded, wire.ControllerStatus) and (
                            decoded.state is wire.LinkState.ONLINE
                        )
                        if online and not self.want.empty():
                            self.want.get_nowait()
                            await self._press(client)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.02)  # a refused connection: try again at once, nearly

    async def _press(self, client: aiomqtt.Client) -> None:
        self.seq += 1
        pub = self.topics.publication(wire.VoteKey(self.seat, 1, self.seq, 1 + self.seq % 3))
        sys.stdout.write(json.dumps({"t": time.monotonic(), "origin": f"ip:1:{self.seq}"}) + "\n")
        sys.stdout.flush()
        await client.publish(pub.topic, pub.payload, int(pub.qos), pub.retain)


async def probe_main(hall_id: str, seat: int, host: str, port: int) -> None:
    probe = Probe(hall_id, seat, host, port)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    task = asyncio.create_task(probe.run())
    async for _ in reader:
        probe.want.put_nowait(None)
    task.cancel()


@contextlib.asynccontextmanager
async def probe_process(
    hall_id: str, seat: int, host: str, port: int
) -> AsyncIterator[ControllerProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.mqtt_recovery",
        "--probe",
        hall_id,
        str(seat),
        host,
        str(port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    probe = ControllerProcess(proc)  # the same JSON-lines reader
    try:
        yield probe
    finally:
        await probe.stop()


# --- one hall size --------------------------------------------------------------------------------


async def measure_size(seats: int, restarts: int, seed: int = 1) -> dict[str, Any]:
    random.seed(seed)
    trials: list[dict[str, float]] = []
    with temp_dir(f"mqtt-{seats}") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o711)  # the broker's account traverses it
        config = sized_config(seats, directory)
        hall_file = directory / f"hall-{seats}.toml"
        probe_seat = max(ip_seats(config))
        broker = hall_broker(config.hall_id, ip_seats(config), directory / "broker", SECRET)
        await broker.start()
        others = dataclasses.replace(
            config, units=tuple(u for u in config.units if u.seat != probe_seat)
        )
        wall = BrokerAddress(broker.connect_host, broker.port, WALL_USER, broker.users[WALL_USER])
        try:
            async with (
                controller_process(hall_file, broker.port) as controller,
                probe_process(
                    config.hall_id, probe_seat, broker.connect_host, broker.port
                ) as probe,
                SimulatedHall(
                    others,
                    wire_time=False,
                    seed=seed,
                    broker=wall,
                    secret=SECRET,
                    broker_control=broker,
                    runtime_dir=directory / "sim",
                    wall=False,
                ) as sim,
            ):
                await asyncio.wait_for(controller.until(0.0, connected=True), WAIT_S)
                for trial in range(restarts):
                    units = sim.ip_units.values()
                    await asyncio.wait_for(
                        asyncio.gather(*(u.connected.wait() for u in units)), WAIT_S
                    )
                    before = broker.restarts
                    for unit in units:
                        unit.connected.clear()
                    killed = time.monotonic()
                    assert probe.proc.stdin is not None
                    probe.proc.stdin.write(b"press\n")
                    await probe.proc.stdin.drain()
                    await broker.kill()
                    await broker.wait_restarts(before + 1)
                    # The supervisor waits this long before it starts the broker again: the
                    # broker cannot be back sooner, so times from here are upper bounds.
                    back = killed + broker.restart_backoff_s[0]
                    subscribed = await asyncio.wait_for(
                        controller.until(killed, connected=True), WAIT_S
                    )
                    origin = f"ip:1:{trial + 1}"
                    sent = await asyncio.wait_for(probe.until(killed, origin=origin), WAIT_S)
                    read = await asyncio.wait_for(
                        controller.until(killed, seat=probe_seat, origin=origin), WAIT_S
                    )
                    trials.append(
                        {
                            "subscribed_s": subscribed - back,
                            "probe_sent_s": sent - back,
                            "first_press_s": read - back,
                        }
                    )
                    print(
                        f"  {seats} seats, restart {trial + 1}: subscribed "
                        f"{subscribed - back:.3f} s, probe sent {sent - back:.3f} s, "
                        f"first press {read - back:.3f} s",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            await broker.stop()
    return {
        "seats": seats,
        "retained": 4 * seats,
        "trials": trials,
        "subscribed_s": median([t["subscribed_s"] for t in trials]),
        "first_press_s": median([t["first_press_s"] for t in trials]),
    }


async def measure_async(sizes: tuple[int, ...], restarts: int) -> dict[int, dict[str, Any]]:
    return {seats: await measure_size(seats, restarts) for seats in sizes}


def figure_from(runs: dict[int, dict[str, Any]], quick: bool) -> Figure:
    worst = max(r["first_press_s"] for r in runs.values())
    return Figure(
        number=NUMBER,
        name="broker restart -> first press read (median, worst size)",
        value=round(worst, 3),
        unit="s",
        target=f"<= {TARGET_S:g} s at {', '.join(str(s) for s in runs)} seats",
        meets=worst <= TARGET_S,
        details={"quick": quick, "machine": machine(), "sizes": list(runs.values())},
    )


def measure(quick: bool = False) -> Figure:
    sizes = (50,) if quick else SIZES
    runs = asyncio.run(measure_async(sizes, 2 if quick else RESTARTS))
    return figure_from(runs, quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--restarts", type=int, default=RESTARTS)
    parser.add_argument("--controller", nargs=2, metavar=("HALL_FILE", "PORT"), help="(internal)")
    parser.add_argument(
        "--probe", nargs=4, metavar=("HALL", "SEAT", "HOST", "PORT"), help="(internal)"
    )
    args = parser.parse_args(argv)
    if args.controller:
        asyncio.run(controller_main(Path(args.controller[0]), int(args.controller[1])))
        return 0
    if args.probe:
        hall_id, seat, host, port = args.probe
        asyncio.run(probe_main(hall_id, int(seat), host, int(port)))
        return 0
    sizes = (50,) if args.quick else tuple(int(s) for s in args.sizes.split(","))
    started = time.monotonic()
    runs = asyncio.run(measure_async(sizes, 2 if args.quick else args.restarts))
    figure = figure_from(runs, args.quick)
    write_result(NAME, figure.to_json(), RESULTS)
    for r in runs.values():
        print(
            f"{r['seats']:>5} seats ({r['retained']} retained): subscribed "
            f"{r['subscribed_s']:.3f} s, first press {r['first_press_s']:.3f} s (medians)"
        )
    report(figure)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
