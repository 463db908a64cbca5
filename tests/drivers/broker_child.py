"""A daemon's embedded broker alone in a child process, for tests that SIGKILL that process.

    python -m tests.drivers.broker_child DIRECTORY PORT [--no-death-signal]

Starts the hall broker of tests.drivers.test_mosquitto_owned over DIRECTORY on loopback and
PORT, prints `{"pid": BROKER_PID}` once it accepts connections, and waits to be killed.
`--no-death-signal` starts it as a daemon of an older release did, without asking the kernel
to end it with its parent, so that only the pid-file check at the next start can end it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from chamber.drivers import mosquitto


async def main(directory: Path, port: int, death_signal: bool) -> None:
    if not death_signal:
        mosquitto._die_with_parent = lambda parent: None  # type: ignore[assignment]
    from tests.drivers.test_mosquitto_owned import HALL, SEATS, SECRET

    broker = mosquitto.hall_broker(HALL, SEATS, directory, SECRET, port=port)
    await broker.start()
    sys.stdout.write(json.dumps({"pid": broker.pid}) + "\n")
    sys.stdout.flush()
    await asyncio.Future()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[0]), int(args[1]), "--no-death-signal" not in args))
