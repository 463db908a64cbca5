"""The MQTT client's own cost: CPU time per QoS 1 publication through aiomqtt (paho-mqtt).

Not a numbered figure: the floor under figure 8. The controller's MQTT driver publishes every
LED state, lock and confirmation through aiomqtt, which wraps paho-mqtt; this measures what one
publication costs the publishing process there, against a real Mosquitto on loopback, the way
the driver sends (`drivers.mqtt.MqttUnits._send_loop`):

- one at a time, each awaiting its PUBACK before the next (the driver before windows);
- in windows of 64, awaiting the window's PUBACKs together (the driver now, `SEND_WINDOW`);
- QoS 0, one at a time (no PUBACK: what is left is the client's own bookkeeping).

An LED state's payload and topic, retained, as the driver sends them. Medians of 5 rounds of
4,000 publications each, CPU time of this process (`time.process_time`).

Run alone with `python -m bench.mqtt_publish`. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiomqtt

from bench.common import median, temp_dir, write_json
from chamber.drivers.mosquitto import Mosquitto
from chamber.protocols import mqtt

ROUNDS = 5
COUNT = 4000
WINDOW = 64
USER = "bench"


async def _round(client: aiomqtt.Client, topics: mqtt.Topics, mode: str) -> float:
    publications = [
        topics.publication(mqtt.LedsCommand(seat, (1,), True)) for seat in range(1, COUNT + 1)
    ]
    start = time.process_time()
    if mode == "serial":
        for p in publications:
            await client.publish(p.topic, p.payload, 1, p.retain)
    elif mode == "window":
        for at in range(0, COUNT, WINDOW):
            await asyncio.gather(
                *(
                    client.publish(p.topic, p.payload, 1, p.retain)
                    for p in publications[at : at + WINDOW]
                )
            )
    else:
        for p in publications:
            await client.publish(p.topic, p.payload, 0, p.retain)
    return (time.process_time() - start) / COUNT * 1e6


async def measure_async(directory: Path) -> dict[str, Any]:
    password = "bench-only-password"
    broker = Mosquitto(directory / "broker", {USER: password}, f"user {USER}\ntopic readwrite #\n")
    await broker.start()
    topics = mqtt.Topics("bench")
    out: dict[str, Any] = {}
    try:
        async with aiomqtt.Client(
            broker.connect_host, broker.port, username=USER, password=password, identifier=USER
        ) as client:
            client.pending_calls_threshold = 2 * WINDOW
            for mode in ("serial", "window", "qos0"):
                out[f"{mode}_us"] = round(
                    median([await _round(client, topics, mode) for _ in range(ROUNDS)]), 1
                )
    finally:
        await broker.stop()
    out["window"] = WINDOW
    out["publications_per_round"] = COUNT
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    with temp_dir("mqtt-publish") as tmp:
        directory = Path(tmp)
        directory.chmod(0o711)
        result = asyncio.run(measure_async(directory))
    write_json("mqtt_publish", result)
    print(
        f"aiomqtt {aiomqtt.__version__}: CPU per QoS 1 publication {result['serial_us']} us one "
        f"at a time, {result['window_us']} us in windows of {WINDOW}; QoS 0 {result['qos0_us']} us"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
