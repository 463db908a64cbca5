"""The display wall's MQTT twin: the wall view, published retained for LED walls.

The publisher follows the stream as the web wall does: the wall view (`Audience.WALL`) as a
snapshot, then its patches, applied to its own copy. Whenever the view changes, the wall
messages (`controller.wall`) are rebuilt and only the topics that changed are published, at
most every `interval_s` (a quarter second): a burst of 4,096 presses becomes a few updates of
the tally, not 4,096. A wall that connects later gets every topic at once from the broker's
retained copies. A view or a message that cannot be published is logged on one line and
skipped (`WallPublisher`); the publisher goes on.

What it needs of the daemon is narrow: the hub, the clock, the hall, and the sinks to publish
to, which the assembly passes in (`publish_wall_state(runtime, sinks=...)`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from chamber.controller.core.model import Hall
from chamber.controller.core.patch import PatchError, apply
from chamber.controller.core.view import Audience
from chamber.controller.hub import Patch
from chamber.controller.runtime import Runtime
from chamber.controller.wall import wall_changes, wall_messages
from chamber.protocols.mqtt import Message as WallMessage
from chamber.protocols.mqtt import MessageKind

log = logging.getLogger("chamber.wall")


@runtime_checkable
class WallSink(Protocol):
    def publish_wall(self, message: WallMessage) -> None: ...

    def clear_wall(self, kind: MessageKind) -> None: ...


class WallPublisher:
    """Turns each wall view into the wall topics that changed and hands them to the sinks.

    A view that cannot be built into wall messages, or a message a sink refuses, is logged
    on one line and skipped: the next view is published as usual. Nothing here ever stops
    the publisher (an exception in it once left the wall frozen until a restart).
    """

    def __init__(self, hall: Hall, sinks: Sequence[WallSink], *, unix_offset: float) -> None:
        self.hall = hall
        self.sinks = tuple(sinks)
        self.unix_offset = unix_offset
        self.last: dict[MessageKind, WallMessage | None] = {}
        self.failures = 0

    def update(self, state: Mapping[str, Any], now: float) -> None:
        try:
            messages = wall_messages(state, self.hall, now=now, unix_offset=self.unix_offset)
        except Exception as exc:  # a bad state must not stop the wall
            self.failed("wall state could not be built", exc)
            return
        for kind, message in wall_changes(self.last, messages):
            for sink in self.sinks:
                try:
                    if message is None:
                        sink.clear_wall(kind)
                    else:
                        sink.publish_wall(message)
                except Exception as exc:  # one refused message must not stop the others
                    self.failed(f"wall topic {kind.value} could not be published", exc)
            self.last[kind] = message

    def failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        log.error(
            "%s: %s: %s",
            what,
            type(exc).__name__,
            str(exc)[:200],
            extra={"event": "wall-error"},
        )


async def publish_wall_state(
    runtime: Runtime,
    *,
    sinks: Sequence[WallSink],
    interval_s: float = 0.25,
) -> None:
    """Run until cancelled: follow the wall view on the hub and keep the retained wall
    topics current in `sinks` (the assembly passes its MQTT driver)."""
    await runtime.started.wait()
    if not sinks:
        return
    # Deadlines go out as Unix times; the offset is taken once so that they do not jitter.
    unix_offset = time.time() - runtime.clock.now()
    publisher = WallPublisher(runtime.config.hall, sinks, unix_offset=unix_offset)
    hub = runtime.hub
    sub = hub.subscribe(audience=Audience.WALL)
    view: Any = None
    try:
        while True:
            message = await sub.get()
            while True:
                if isinstance(message, Patch):
                    try:
                        view = apply(view, message.ops)
                    except PatchError as exc:  # cannot happen with the hub's own patches
                        publisher.failed("wall view could not be patched", exc)
                        view = copy.deepcopy(hub.snapshot(Audience.WALL).state)
                else:
                    # The hub's own view: a copy, since patches change it in place.
                    view = copy.deepcopy(message.state)
                following = sub.get_nowait()
                if following is None:
                    break
                message = following
            publisher.update(view, runtime.clock.now())
            await asyncio.sleep(interval_s)
    finally:
        sub.close()
