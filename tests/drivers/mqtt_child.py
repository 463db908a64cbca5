"""A controller's MQTT driver alone in a child process, for tests that SIGKILL it.

    python -m tests.drivers.mqtt_child HALL SEATS HOST PORT USERNAME PASSWORD

SEATS is a comma-separated list. Each input the driver hands on is printed as one JSON line
(`{"seat": 1, "origin": "ip:3:1"}`) once the driver's connection is up (`{"connected": true}`
comes first). Nothing is ever settled: every QoS 1 delivery stays unacknowledged, as in a
daemon killed before its journal commit.
"""

from __future__ import annotations

import asyncio
import json
import sys

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.mosquitto import BrokerEndpoint
from chamber.drivers.mqtt import Backoff, MqttUnits


def _say(data: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def _input(inp: Input) -> None:
    _say({"seat": getattr(inp, "seat", None), "origin": getattr(inp, "origin", None)})


def _health(item: UnitHealth | LineHealth) -> None:
    if isinstance(item, LineHealth) and item.connected:
        _say({"connected": True})


async def main(argv: list[str]) -> None:
    hall, seats, host, port, username, password = argv
    endpoint = BrokerEndpoint(host, int(port), username, password)
    driver = MqttUnits(
        hall,
        [int(s) for s in seats.split(",")],
        endpoint,
        FakeClock(0.0),
        _input,
        _health,
        backoff=Backoff(0.05, 0.5),
    )
    await driver.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
