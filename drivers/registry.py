"""Build a hall's drivers from its configuration: one per line, and one for MQTT.

The runtime calls `build_drivers` once; each driver then owns its transport. Keypad lines
(Modbus RTU or TCP) and microphone lines are built for every line that serves at least one
seat; the MQTT driver is built whenever a broker is given, since it also carries the display
wall's state even in a hall without IP seat units.
"""

from __future__ import annotations

from controller.config import HallConfig, LineKind
from controller.core.clock import Clock
from drivers.base import Driver, HealthSink, InputSink
from drivers.mic_line import MicLine
from drivers.modbus_line import KeypadLine
from drivers.mosquitto import BrokerEndpoint
from drivers.mqtt import MqttUnits


def build_drivers(
    config: HallConfig,
    clock: Clock,
    sink: InputSink,
    on_health: HealthSink,
    *,
    broker: BrokerEndpoint | None = None,
) -> list[Driver]:
    used = {u.keypad.line for u in config.units if u.keypad} | {
        u.mic.line for u in config.units if u.mic
    }
    drivers: list[Driver] = []
    for line in config.lines:
        if line.id not in used:
            continue
        if line.kind is LineKind.MIC_SERIAL:
            drivers.append(MicLine.from_config(config, line.id, clock, sink, on_health))
        else:
            drivers.append(KeypadLine.from_config(config, line.id, clock, sink, on_health))
    if broker is not None:
        drivers.append(MqttUnits.from_config(config, broker, clock, sink, on_health))
    return drivers
