"""Build a hall's drivers from its wiring: one per line, and one for MQTT.

The runtime calls `build_drivers` once; each driver then owns its transport. `LINE_DRIVERS` is
the one table from a line kind to the driver class that serves it (as python-can's interface
registry maps an interface name to its bus class): a driver is built for every line that
serves at least one seat. The MQTT driver is built whenever a broker is given, since it also
carries the display wall's state even in a hall without IP seat units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from chamber.controller.core.clock import Clock
from chamber.drivers.base import Driver, HealthSink, InputSink
from chamber.drivers.mic_line import MicLine
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.mosquitto import BrokerEndpoint
from chamber.drivers.mqtt import MqttUnits
from chamber.drivers.topology import LineKind, Topology


class LineDriverClass(Protocol):
    """A driver class for one kind of line: built from the hall's wiring and a line's id."""

    def from_config(
        self,
        config: Topology,
        line_id: str,
        clock: Clock,
        sink: InputSink,
        on_health: HealthSink,
    ) -> Driver: ...


LINE_DRIVERS: Mapping[LineKind, LineDriverClass] = {
    LineKind.MODBUS_RTU: KeypadLine,
    LineKind.MODBUS_TCP: KeypadLine,
    LineKind.MIC_SERIAL: MicLine,
}


def build_drivers(
    config: Topology,
    clock: Clock,
    sink: InputSink,
    on_health: HealthSink,
    *,
    broker: BrokerEndpoint | None = None,
) -> list[Driver]:
    used = {u.keypad.line for u in config.units if u.keypad} | {
        u.mic.line for u in config.units if u.mic
    }
    drivers: list[Driver] = [
        LINE_DRIVERS[line.kind].from_config(config, line.id, clock, sink, on_health)
        for line in config.lines
        if line.id in used
    ]
    if broker is not None:
        drivers.append(MqttUnits.from_config(config, broker, clock, sink, on_health))
    return drivers
