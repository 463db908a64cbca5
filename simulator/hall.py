"""A whole simulated hall: every line, gateway and IP unit of a hall config, on real transports.

`SimulatedHall` is an async context manager. On entry it brings up, for the config's
- modbus-rtu lines: a socat pty pair each, keypads served on the units' end;
- mic-serial lines: a socat pty pair each, microphone units served on the units' end;
- modbus-tcp lines: a gateway listening on 127.0.0.1 on a free port;
- IP seats: one MQTT client per unit against the broker given, or against a Mosquitto the
  hall starts itself (drivers.mosquitto, with the same accounts and ACL the daemon would use);
- a display-wall client reading the retained wall state.
`daemon_config()` is the same config with every device, host and port (and the broker)
rewritten to the daemon's side, so the daemon runs against the simulator unchanged.

Delegates act through `press`, `set_presence`, `mic_request`, `mic_cancel` or a planned
script (`perform`); every press lands in `truth`. Faults are switched on through `faults`
(per reply) and the fault methods here (reboot, unplug/replug, duplicate, replay, broker
restart).

This module wires transports to units; the protocols themselves live in protocols/.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypeVar

from chamber.drivers.mosquitto import CONTROLLER_USER, WALL_USER, Mosquitto, hall_broker
from chamber.drivers.topology import Broker, LineKind, Topology, UnitRef
from chamber.protocols import keypad, micunit, mqtt
from chamber.simulator.delegates import Action, ActionKind, GroundTruth, Press
from chamber.simulator.faults import IP_LINE, FaultKind, FaultRates, Faults
from chamber.simulator.ipunits import (
    CONNECT_CONCURRENCY,
    BrokerAddress,
    IpUnit,
    SeatTopics,
    WallClient,
    unit_credentials,
)
from chamber.simulator.keypads import (
    KeypadGatewaySim,
    KeypadLineSim,
    KeypadUnitSim,
    keypad_wire_time,
)
from chamber.simulator.miclines import MicLineSim, MicUnitSim, mic_wire_time

DEFAULT_SECRET_BYTES = 32
_T = TypeVar("_T", bound=Topology)
STOP_TIMEOUT_S = 10.0


class SimulatorError(RuntimeError):
    """The simulated hall cannot be set up as configured, or was asked the impossible."""


class BrokerControl(Protocol):
    """What the broker-restart fault needs: drivers.mosquitto.Mosquitto fits."""

    restarts: int

    async def kill(self) -> None: ...

    async def wait_restarts(self, count: int) -> None: ...


class EndpointKind(StrEnum):
    SERIAL = "serial"
    TCP = "tcp"
    MQTT = "mqtt"


@dataclass(frozen=True)
class Endpoint:
    """Something the simulator exposes for the daemon: a serial device, a port, a broker."""

    kind: EndpointKind
    name: str
    line_kind: str
    device: str | None = None
    host: str | None = None
    port: int | None = None
    units: int = 0

    def describe(self) -> str:
        where = self.device if self.device else f"{self.host}:{self.port}"
        return f"{self.name:<16} {self.line_kind:<11} {where}  ({self.units} units)"


class SimulatedHall:
    """Every unit of a hall, simulated on real transports, with faults and a ground truth."""

    def __init__(
        self,
        config: Topology,
        *,
        wire_time: bool = True,
        seed: int,
        broker: BrokerAddress | None = None,
        secret: bytes | None = None,
        rates: FaultRates | None = None,
        broker_control: BrokerControl | None = None,
        runtime_dir: Path | None = None,
        wall: bool = True,
        card_readers: Collection[int] = (),
    ) -> None:
        self.config = config
        # Seats whose keypads have a card reader (keypad_modbus.md §3.4).
        self.card_readers = frozenset(card_readers)
        self.wire_time = wire_time
        self.seed = seed
        self.rng = random.Random(seed)
        self.truth = GroundTruth()
        self.faults = Faults(random.Random(f"{seed}/faults"), rates)
        self._broker = broker
        self._secret = secret
        self._broker_control = broker_control
        self._runtime_dir = runtime_dir
        self._own_dir: Path | None = None
        self._own_broker: Mosquitto | None = None
        self._want_wall = wall
        self.keypad_lines: dict[str, KeypadLineSim] = {}
        self.gateways: dict[str, KeypadGatewaySim] = {}
        self.mic_lines: dict[str, MicLineSim] = {}
        self.ip_units: dict[int, IpUnit] = {}
        self.wall: WallClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unit_tasks: list[asyncio.Task[None]] = []
        self._seat_keypad: dict[int, UnitRef] = {}
        self._seat_mic: dict[int, UnitRef] = {}
        self._entered = False
        self._build()

    # --- set-up ----------------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        keypads: dict[str, list[KeypadUnitSim]] = {}
        mics: dict[str, list[MicUnitSim]] = {}
        for su in cfg.units:
            if su.keypad is not None:
                serial = f"KP-SIM-{su.seat:05d}"
                keypads.setdefault(su.keypad.line, []).append(
                    KeypadUnitSim(
                        su.seat, su.keypad, serial, card_reader=su.seat in self.card_readers
                    )
                )
                self._seat_keypad[su.seat] = su.keypad
            if su.mic is not None:
                mics.setdefault(su.mic.line, []).append(
                    MicUnitSim(su.seat, su.mic, su.mic_class, 0x5100_0000 + su.seat)
                )
                self._seat_mic[su.seat] = su.mic
        self._keypad_units = keypads
        self._mic_units = mics
        self._ip_seats = sorted(su.seat for su in cfg.units if su.ip)

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    @property
    def runtime_dir(self) -> Path:
        if self._runtime_dir is not None:
            return self._runtime_dir
        if self._own_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix=f"chamber-sim-{self.config.hall_id}-"))
            # Traversable, not listable: a broker that drops to its own account must reach
            # its 0700 directory inside.
            self._own_dir.chmod(0o711)
        return self._own_dir

    async def _start(self) -> None:
        run = self.runtime_dir
        run.mkdir(parents=True, exist_ok=True)
        for line in self.config.lines:
            daemon_link, unit_link = run / f"{line.id}", run / f"{line.id}.units"
            if line.kind is LineKind.MODBUS_RTU:
                self.keypad_lines[line.id] = KeypadLineSim(
                    line,
                    self._keypad_units.get(line.id, []),
                    daemon_link=daemon_link,
                    unit_link=unit_link,
                    wire=keypad_wire_time(line.baud, self.wire_time),
                    faults=self.faults,
                    truth=self.truth,
                )
            elif line.kind is LineKind.MIC_SERIAL:
                self.mic_lines[line.id] = MicLineSim(
                    line,
                    self._mic_units.get(line.id, []),
                    daemon_link=daemon_link,
                    unit_link=unit_link,
                    wire=mic_wire_time(line.baud, self.wire_time),
                    faults=self.faults,
                    truth=self.truth,
                )
            else:
                self.gateways[line.id] = KeypadGatewaySim(
                    line, self._keypad_units.get(line.id, []), faults=self.faults, truth=self.truth
                )
        serial: list[KeypadLineSim | MicLineSim] = [
            *self.keypad_lines.values(),
            *self.mic_lines.values(),
        ]
        await asyncio.gather(*(s.start() for s in serial))
        await asyncio.gather(*(g.start() for g in self.gateways.values()))
        if self._ip_seats or (self._broker is not None and self._want_wall):
            await self._start_mqtt()

    async def _start_mqtt(self) -> None:
        if self._broker is None:
            if self.config.broker.host is not None:
                b = self.config.broker
                self._broker = BrokerAddress(b.host or "", b.port, b.username, b.password)
            else:
                # No broker anywhere: run the one the daemon would, with the same accounts.
                if self._secret is None:
                    self._secret = secrets.token_bytes(DEFAULT_SECRET_BYTES)
                broker = hall_broker(
                    self.config.hall_id, self._ip_seats, self.runtime_dir / "broker", self._secret
                )
                await broker.start()
                self._own_broker = broker
                self._broker_control = self._broker_control or broker
                self._broker = BrokerAddress(
                    broker.connect_host, broker.port, WALL_USER, broker.users[WALL_USER]
                )
        topics = mqtt.Topics(self.config.hall_id)
        address = self._broker
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        seat_topics = SeatTopics(topics)
        for seat in self._ip_seats:
            unit = IpUnit(
                seat,
                seat_topics,
                address,
                credentials=unit_credentials(self._secret, seat),
                truth=self.truth,
                faults=self.faults,
            )
            self.ip_units[seat] = unit
            self._unit_tasks.append(asyncio.create_task(unit.run(gate), name=f"sim-ip-{seat}"))
        waits = [u.connected.wait() for u in self.ip_units.values()]
        if self._want_wall:
            self.wall = WallClient(topics, address)
            ready = asyncio.Event()
            self._tasks.append(asyncio.create_task(self.wall.run(ready), name="sim-wall"))
            waits.append(ready.wait())
        try:
            async with asyncio.timeout(30 + len(self._ip_seats) / 100):
                await asyncio.gather(*waits)
        except TimeoutError:
            down = sum(1 for u in self.ip_units.values() if not u.connected.is_set())
            raise SimulatorError(
                f"{down} of {len(self.ip_units)} IP units could not connect to the broker at "
                f"{address.host}:{address.port} (wrong secret, or the broker refuses them)"
            ) from None

    async def _stop(self) -> None:
        # Units disconnect cleanly first: cancelling an MQTT client in the middle of a write
        # leaves its socket callbacks pointing at a closed descriptor.
        for unit in self.ip_units.values():
            unit.close()
        if self._unit_tasks:
            await asyncio.wait(self._unit_tasks, timeout=STOP_TIMEOUT_S)
        self._tasks += self._unit_tasks
        self._unit_tasks = []
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for kl in self.keypad_lines.values():
            await kl.stop()
        for ml in self.mic_lines.values():
            await ml.stop()
        for gateway in self.gateways.values():
            await gateway.stop()
        if self._own_broker is not None:
            await self._own_broker.stop()
            self._own_broker = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    # --- what the daemon sees --------------------------------------------------------------

    def daemon_config(self) -> Topology:
        """The hall's wiring with every line (and the broker) pointing at the simulator."""
        return self.wired(self.config)

    def wired(self, config: _T) -> _T:
        """`config` (this hall's wiring, or a whole hall file built on it) with every line and
        the broker pointing at the simulator."""
        lines = []
        for line in config.lines:
            if line.id in self.keypad_lines:
                # A pty pair carries no parity: the daemon side must not ask for any.
                lines.append(
                    replace(line, device=self.keypad_lines[line.id].daemon_device, parity="none")
                )
            elif line.id in self.mic_lines:
                lines.append(replace(line, device=self.mic_lines[line.id].daemon_device))
            else:
                gw = self.gateways[line.id]
                lines.append(replace(line, host=gw.host, port=gw.port))
        broker = config.broker
        if self._own_broker is not None:
            b = self._own_broker
            broker = Broker(
                b.connect_host, b.port, CONTROLLER_USER, b.users[CONTROLLER_USER], False, None
            )
        elif self._broker is not None and config.broker.host is None:
            broker = replace(broker, host=self._broker.host, port=self._broker.port)
        return replace(config, lines=tuple(lines), broker=broker)

    def endpoints(self) -> list[Endpoint]:
        out: list[Endpoint] = []
        for kl in self.keypad_lines.values():
            out.append(
                Endpoint(
                    EndpointKind.SERIAL,
                    kl.line.id,
                    kl.line.kind.value,
                    device=kl.daemon_device,
                    units=len(kl.units),
                )
            )
        for ml in self.mic_lines.values():
            out.append(
                Endpoint(
                    EndpointKind.SERIAL,
                    ml.line.id,
                    ml.line.kind.value,
                    device=ml.daemon_device,
                    units=len(ml.units),
                )
            )
        for gw in self.gateways.values():
            out.append(
                Endpoint(
                    EndpointKind.TCP,
                    gw.line.id,
                    gw.line.kind.value,
                    host=gw.host,
                    port=gw.port,
                    units=len(gw.units),
                )
            )
        if self._broker is not None:
            out.append(
                Endpoint(
                    EndpointKind.MQTT,
                    "broker",
                    "mqtt",
                    host=self._broker.host,
                    port=self._broker.port,
                    units=len(self.ip_units),
                )
            )
        return out

    @property
    def seats(self) -> list[int]:
        return sorted(su.seat for su in self.config.units)

    # --- delegates -------------------------------------------------------------------------

    def _keypad_host(self, seat: int) -> tuple[KeypadLineSim | KeypadGatewaySim, int] | None:
        ref = self._seat_keypad.get(seat)
        if ref is None:
            return None
        host = self.keypad_lines.get(ref.line) or self.gateways[ref.line]
        return host, ref.address

    def press(self, seat: int, key: int) -> Press:
        """The delegate at `seat` presses voting key `key` (1 yes, 2 no, 3 abstain, ...)."""
        if (kp := self._keypad_host(seat)) is not None:
            return kp[0].press(kp[1], key)
        if seat in self.ip_units:
            return self.ip_units[seat].press_vote(key)
        raise SimulatorError(f"seat {seat} has no keypad")

    def set_presence(self, seat: int, present: bool) -> Press | None:
        """The delegate arrives (True) or leaves; None when the seat already showed that."""
        if (kp := self._keypad_host(seat)) is not None:
            return kp[0].set_presence(kp[1], present)
        if seat in self.ip_units:
            return self.ip_units[seat].set_presence(present)
        raise SimulatorError(f"seat {seat} has no presence key")

    def confirm_presence(self, seat: int) -> Press:
        """The delegate at `seat`, present, confirms in a roll call (one press of the
        presence key)."""
        if (kp := self._keypad_host(seat)) is not None:
            return kp[0].confirm_presence(kp[1])
        if seat in self.ip_units:
            return self.ip_units[seat].confirm_presence()
        raise SimulatorError(f"seat {seat} has no presence key")

    def insert_card(self, seat: int, uid: int | str) -> Press | None:
        """A delegate puts a card (its UID, a number or hex) in the seat's reader."""
        if (kp := self._keypad_host(seat)) is None:
            raise SimulatorError(f"seat {seat} has no keypad")
        number = int(uid, 16) if isinstance(uid, str) else uid
        try:
            return kp[0].insert_card(kp[1], number)
        except keypad.KeypadUsageError as e:
            raise SimulatorError(f"seat {seat}: {e}") from None

    def remove_card(self, seat: int) -> Press | None:
        """The card is taken out of the seat's reader."""
        if (kp := self._keypad_host(seat)) is None:
            raise SimulatorError(f"seat {seat} has no keypad")
        return kp[0].remove_card(kp[1])

    def mic_request(self, seat: int) -> Press:
        if (ref := self._seat_mic.get(seat)) is not None:
            return self.mic_lines[ref.line].press(ref.address, micunit.UnitEvent.REQUEST_PRESSED)
        if seat in self.ip_units:
            return self.ip_units[seat].mic_request()
        raise SimulatorError(f"seat {seat} has no microphone unit")

    def mic_cancel(self, seat: int) -> Press:
        if (ref := self._seat_mic.get(seat)) is not None:
            return self.mic_lines[ref.line].press(ref.address, micunit.UnitEvent.CANCEL_PRESSED)
        if seat in self.ip_units:
            return self.ip_units[seat].mic_cancel()
        raise SimulatorError(f"seat {seat} has no microphone unit")

    def act(self, action: Action) -> Press | None:
        match action.kind:
            case ActionKind.ARRIVE:
                return self.set_presence(action.seat, True)
            case ActionKind.DEPART:
                return self.set_presence(action.seat, False)
            case ActionKind.VOTE:
                return self.press(action.seat, action.key)
            case ActionKind.MIC_REQUEST:
                return self.mic_request(action.seat)
            case ActionKind.MIC_CANCEL:
                return self.mic_cancel(action.seat)
        raise SimulatorError(f"unknown action {action.kind}")

    async def perform(self, actions: Sequence[Action]) -> list[Press]:
        """Carry out a plan: each action at its offset from now, on the loop's clock."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        done = loop.create_future()
        presses: list[Press] = []
        remaining = len(actions)
        if not remaining:
            return presses

        def fire(action: Action) -> None:
            nonlocal remaining
            try:
                press = self.act(action)
                if press is not None:
                    presses.append(press)
            except Exception as exc:
                if not done.done():
                    done.set_exception(exc)
                return
            remaining -= 1
            if remaining == 0 and not done.done():
                done.set_result(None)

        handles = [loop.call_at(start + a.after_s, fire, a) for a in sorted(actions)]
        try:
            await done
        finally:
            for h in handles:
                h.cancel()
        return presses

    async def drain(self) -> None:
        """Wait until every IP unit's presses have been acknowledged by the broker."""
        await asyncio.gather(*(u.drain() for u in self.ip_units.values()))

    # --- faults that act on units and transports -------------------------------------------

    def reboot(self, seat: int, unit: str = "keypad") -> None:
        """Restart a seat's `keypad`, `mic` or IP unit: counters reset, boot flag set."""
        if seat in self.ip_units:
            self.ip_units[seat].reboot()
            return
        if unit == "keypad" and (kp := self._keypad_host(seat)) is not None:
            kp[0].reboot(kp[1])
            return
        if unit == "mic" and (ref := self._seat_mic.get(seat)) is not None:
            self.mic_lines[ref.line].reboot(ref.address)
            return
        raise SimulatorError(f"seat {seat} has no {unit} unit")

    def _serial_line(self, line_id: str) -> KeypadLineSim | MicLineSim:
        line = self.keypad_lines.get(line_id) or self.mic_lines.get(line_id)
        if line is None:
            raise SimulatorError(f"no serial line {line_id!r}")
        return line

    def noise(self, line_id: str, length: int = 16) -> bytes:
        """Put `length` random bytes on a serial line, towards the daemon; returns them."""
        line = self._serial_line(line_id)
        data = self.faults.noise(length)
        line.port.write(data)
        return data

    async def unplug(self, line_id: str) -> None:
        """Pull the line's adapter: its device disappears until `replug`."""
        await self._serial_line(line_id).unplug()

    async def replug(self, line_id: str) -> None:
        await self._serial_line(line_id).replug()

    def duplicate(self, seat: int) -> bool:
        """Re-publish the IP unit's last press unchanged."""
        return self._ip(seat).duplicate()

    def replay(self, seat: int, back: int = 1) -> bool:
        """Re-publish an older press of the IP unit after newer ones."""
        return self._ip(seat).replay(back)

    def _ip(self, seat: int) -> IpUnit:
        try:
            return self.ip_units[seat]
        except KeyError:
            raise SimulatorError(f"seat {seat} has no IP unit") from None

    async def restart_broker(self) -> None:
        """Kill the broker; return once it is back and every IP unit has reconnected."""
        control = self._broker_control
        if control is None:
            raise SimulatorError("no control over this broker: pass broker_control")
        before = control.restarts
        for unit in self.ip_units.values():
            unit.connected.clear()
        self.faults.count(FaultKind.BROKER_RESTART)
        await control.kill()
        await control.wait_restarts(before + 1)
        await asyncio.gather(*(u.connected.wait() for u in self.ip_units.values()))

    def unit_ref(self, seat: int, unit: str = "keypad") -> UnitRef:
        """The address faults are set on: a serial unit's line and address, or the IP unit."""
        if seat in self.ip_units:
            return UnitRef(IP_LINE, seat)
        ref = (self._seat_keypad if unit == "keypad" else self._seat_mic).get(seat)
        if ref is None:
            raise SimulatorError(f"seat {seat} has no {unit} unit")
        return ref
