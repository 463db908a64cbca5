"""The MQTT client's own cost: CPU time per QoS 1 publication, the controller's client
(`drivers.mqtt_link`) beside aiomqtt (paho-mqtt), in the same run against the same broker.

Not a numbered figure: the floor under figure 8. The controller's MQTT driver publishes every
LED state, lock and confirmation; this measures what one publication costs the publishing
process, against a real Mosquitto on loopback, the way the driver sends
(`drivers.mqtt.MqttUnits._send_loop`):

- one at a time, each awaiting its PUBACK before the next;
- in windows of 64, awaiting the window's PUBACKs together (the driver, `SEND_WINDOW`);
- QoS 0, one at a time (no PUBACK: what is left is the client's own bookkeeping).

aiomqtt was the driver's client until the controller's own (an asyncio protocol on the
sans-IO `protocols.mqtt_packet`) replaced it; the simulator's IP units still use it. Its
windows are `asyncio.gather` of its `publish`; the controller's are one `publish_window`.

An LED state's payload and topic, retained, as the driver sends them. Medians of 5 rounds of
4,000 publications each, CPU time of this process (`time.process_time`); the two clients'
rounds alternate, so a load that comes and goes weighs on both.

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
from chamber.drivers.mqtt_link import MqttLink
from chamber.protocols import mqtt
from chamber.protocols import mqtt_packet as pk

ROUNDS = 5
COUNT = 4000
WINDOW = 64
USER = "bench"
# The embedded broker binds the client id to the account: each client has its own.
LINK_USER = "bench-link"


def _publications(topics: mqtt.Topics) -> list[mqtt.Publication]:
    return [topics.publication(mqtt.LedsCommand(seat, (1,), True)) for seat in range(1, COUNT + 1)]


async def _round(client: aiomqtt.Client, topics: mqtt.Topics, mode: str) -> float:
    publications = _publications(topics)
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


async def _link_round(link: MqttLink, topics: mqtt.Topics, mode: str) -> float:
    publications = _publications(topics)
    if mode == "qos0":
        publications = [
            mqtt.Publication(p.topic, p.payload, mqtt.Qos(0), p.retain) for p in publications
        ]
    step = WINDOW if mode == "window" else 1
    start = time.process_time()
    for at in range(0, COUNT, step):
        await link.publish_window(publications[at : at + step])
    return (time.process_time() - start) / COUNT * 1e6


async def measure_async(directory: Path) -> dict[str, Any]:
    password = "bench-only-password"
    users = {USER: password, LINK_USER: password}
    acl = "".join(f"user {name}\ntopic readwrite #\n" for name in users)
    broker = Mosquitto(directory / "broker", users, acl)
    await broker.start()
    topics = mqtt.Topics("bench")
    out: dict[str, Any] = {}
    try:
        link = MqttLink(pk.Connect(LINK_USER, 60, True, LINK_USER, password), _ignore, 30.0)
        await link.start(broker.connect_host, broker.port)
        try:
            async with aiomqtt.Client(
                broker.connect_host, broker.port, username=USER, password=password, identifier=USER
            ) as client:
                client.pending_calls_threshold = 2 * WINDOW
                for mode in ("serial", "window", "qos0"):
                    theirs: list[float] = []
                    ours: list[float] = []
                    for _ in range(ROUNDS):
                        theirs.append(await _round(client, topics, mode))
                        ours.append(await _link_round(link, topics, mode))
                    out[f"{mode}_us"] = round(median(theirs), 1)
                    out[f"link_{mode}_us"] = round(median(ours), 1)
                    out[f"{mode}_ratio"] = round(median(theirs) / median(ours), 1)
        finally:
            link.close()
    finally:
        await broker.stop()
    out["aiomqtt"] = aiomqtt.__version__
    out["window"] = WINDOW
    out["publications_per_round"] = COUNT
    return out


def _ignore(packet: pk.Publish) -> None:
    """The bench's link subscribes to nothing; a delivery would be a broker's mistake."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    with temp_dir("mqtt-publish") as tmp:
        directory = Path(tmp)
        directory.chmod(0o711)
        result = asyncio.run(measure_async(directory))
    write_json("mqtt_publish", result)
    for name, prefix in (
        ("controller's client (mqtt_link)", "link_"),
        (f"aiomqtt {aiomqtt.__version__}", ""),
    ):
        print(
            f"{name}: CPU per QoS 1 publication {result[prefix + 'serial_us']} us one at a time, "
            f"{result[prefix + 'window_us']} us in windows of {WINDOW}; "
            f"QoS 0 {result[prefix + 'qos0_us']} us"
        )
    print(
        f"aiomqtt / controller's client: {result['serial_ratio']}x one at a time, "
        f"{result['window_ratio']}x in windows, {result['qos0_ratio']}x at QoS 0"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
