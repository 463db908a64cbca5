"""The long fuzz run: a million random inputs through every decoder (`make fuzz`).

Each codec's test module exposes `fuzz_target(data: bytes) -> None`, which feeds the bytes to
every decoder of that codec and lets through only the codec's typed error. Inputs are random
bytes mixed with mutations of valid frames (a flipped bit, a cut, a splice), since pure noise
rarely gets past a start byte and a CRC. Any other exception, or an input that takes more than
`HANG_S` seconds, is a failure; the run prints the count it reached for each codec.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from chamber.firmware_specs import load_spec

# One input taking longer than this is a hang. Generous: a loaded machine (or a low-priority
# run) can stall a process for most of a second, and no decoder is anywhere near that.
HANG_S = 5.0

TARGETS = {
    "keypad": "tests.protocols.test_keypad",
    "keypad-poller": "tests.protocols.test_keypad_poller",
    "micunit": "tests.protocols.test_micunit",
    "mqtt": "tests.protocols.test_mqtt",
    "mqtt-packet": "tests.protocols.test_mqtt_packet",
    "visca": "tests.protocols.test_visca",
}


def _payload_examples(node: Any) -> list[Any]:
    """Every `payload` of every example in the MQTT contract, wherever it sits."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "examples" and isinstance(value, list):
                found += [ex["payload"] for ex in value if isinstance(ex, dict) and "payload" in ex]
            else:
                found += _payload_examples(value)
    elif isinstance(node, list):
        for value in node:
            found += _payload_examples(value)
    return found


def seeds(name: str) -> list[bytes]:
    """Valid inputs from the contracts' worked examples, for the fuzzer to mutate."""
    if name in ("keypad", "keypad-poller"):
        spec = load_spec("keypad_modbus.yaml")
        return [bytes.fromhex(ex["frame"]) for ex in spec["examples"] if "frame" in ex]
    if name == "micunit":
        spec = load_spec("mic_unit.yaml")
        return [bytes.fromhex(ex["hex"]) for ex in spec["examples"] if "hex" in ex]
    if name in ("mqtt-packet", "visca"):
        # The MQTT 3.1.1 packets the controller's client speaks, one stream of each kind; the
        # VISCA messages and datagrams of every kind chamber sends and reads.
        return importlib.import_module(TARGETS[name]).fuzz_seeds()  # type: ignore[no-any-return]
    payloads = _payload_examples(load_spec("mqtt_asyncapi.yaml"))
    encoded = [json.dumps(p, ensure_ascii=False).encode() for p in payloads]
    # The MQTT fuzz target reads "topic NUL payload"; a topic of k 0x01 bytes picks channel k.
    return [b"\x01" * k + b"\x00" + e for k in range(25) for e in encoded]


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            del data[rng.randrange(len(data)) :]
        elif op == 2:
            data[rng.randrange(len(data) + 1) : 0] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and data:
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256)
        else:
            data += seed
    return bytes(data)


def fuzz(
    name: str, target: Callable[[bytes], None], seeds: list[bytes], count: int, rng: random.Random
) -> dict[str, float | int | str]:
    started = time.perf_counter()
    slowest = 0.0
    for i in range(count):
        if seeds and i % 2:
            data = _mutate(rng, rng.choice(seeds))
        else:
            data = rng.randbytes(rng.randint(0, 300))
        t0 = time.perf_counter()
        try:
            target(data)
        except Exception:
            traceback.print_exc()
            return {"codec": name, "reached": i, "failed_on": data.hex()}
        slowest = max(slowest, time.perf_counter() - t0)
        if slowest > HANG_S:
            return {"codec": name, "reached": i, "failed_on": data.hex(), "why": "hang"}
    return {
        "codec": name,
        "reached": count,
        "seconds": round(time.perf_counter() - started, 1),
        "slowest_ms": round(slowest * 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=sorted(TARGETS))
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    results = []
    for name, module_name in TARGETS.items():
        if args.only and name != args.only:
            continue
        module = importlib.import_module(module_name)
        result = fuzz(name, module.fuzz_target, seeds(name), args.count, random.Random(args.seed))
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
    return 0 if all(r["reached"] == args.count for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
