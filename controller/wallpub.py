"""The display wall's MQTT twin: the wall state, published retained for LED walls.

Whenever the live state changes, the wall messages (`controller.wall`) are rebuilt and only
the topics that changed are published, at most every `interval_s` (a quarter second): a burst
of 4,096 presses becomes a few updates of the tally, not 4,096. A wall that connects later
gets every topic at once from the broker's retained copies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol, runtime_checkable

from controller.runtime import Runtime
from controller.wall import WallStateError, wall_changes, wall_messages
from protocols.mqtt import Message as WallMessage
from protocols.mqtt import MessageKind

log = logging.getLogger("chamber.wall")


@runtime_checkable
class WallSink(Protocol):
    def publish_wall(self, message: WallMessage) -> None: ...

    def clear_wall(self, kind: MessageKind) -> None: ...


async def publish_wall_state(runtime: Runtime, *, interval_s: float = 0.25) -> None:
    """Run until cancelled: follow the hub and keep the retained wall topics current."""
    await runtime.started.wait()
    sinks = [d for d in runtime.drivers if isinstance(d, WallSink)]
    if not sinks:
        return
    # Deadlines go out as Unix times; the offset is taken once so that they do not jitter.
    unix_offset = time.time() - runtime.clock.now()
    sub = runtime.hub.subscribe()
    last: dict[MessageKind, WallMessage | None] = {}
    try:
        while True:
            await sub.get()
            while sub.get_nowait() is not None:
                pass
            state = runtime.hub.snapshot().state
            try:
                messages = wall_messages(
                    state, runtime.config.hall, now=runtime.clock.now(), unix_offset=unix_offset
                )
            except WallStateError:
                log.exception("wall state could not be built", extra={"event": "wall-error"})
                continue
            for kind, message in wall_changes(last, messages):
                for sink in sinks:
                    if message is None:
                        sink.clear_wall(kind)
                    else:
                        sink.publish_wall(message)
            last = dict(messages)
            await asyncio.sleep(interval_s)
    finally:
        sub.close()
