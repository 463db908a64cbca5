"""The live state stream: a snapshot, then numbered deltas, with catch-up after a reconnect.

Every notification the meeting core emits becomes a delta with the next sequence number. A
subscriber that reconnects says the last sequence number it saw; if the deltas since then are
still in the ring buffer it gets exactly those, otherwise a fresh snapshot. No gap, ever.

Pure asyncio and no I/O: the API's WebSocket, the MQTT wall publisher and the demo's terminal
view are all subscribers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.core.effects import Notification


@dataclass(frozen=True)
class Delta:
    seq: int
    topic: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": "delta", "seq": self.seq, "topic": self.topic, "data": self.data}


@dataclass(frozen=True)
class Snapshot:
    seq: int
    state: dict[str, Any]
    stream: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": "snapshot", "seq": self.seq, "stream": self.stream, "state": self.state}


Message = Delta | Snapshot

# The units' and lines' health is for the staff: an observer's token (the wall, the public)
# gets neither these deltas nor the snapshot's `health`.
STAFF_ONLY_TOPICS = frozenset({"health.unit", "health.line"})
STAFF_ONLY_STATE = frozenset({"health"})
STAFF_ROLES = frozenset({"chair", "secretary", "technician"})


def view_for(role: str, message: Message) -> Message | None:
    """What a subscriber of `role` may see of `message`: the message, a snapshot without the
    staff's parts, or None for a delta it may not see."""
    if role in STAFF_ROLES:
        return message
    if isinstance(message, Delta):
        return None if message.topic in STAFF_ONLY_TOPICS else message
    state = {k: v for k, v in message.state.items() if k not in STAFF_ONLY_STATE}
    return Snapshot(message.seq, state, message.stream)


class Subscription:
    """One subscriber's queue. A subscriber too slow to keep up is resynchronised, not dropped."""

    def __init__(self, hub: Hub, limit: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._limit = limit
        self.overflowed = False

    def _put(self, message: Message) -> None:
        if self._queue.qsize() >= self._limit:
            # Replace the backlog with one fresh snapshot: the subscriber loses no state.
            while not self._queue.empty():
                self._queue.get_nowait()
            self.overflowed = True
            self._queue.put_nowait(self._hub.snapshot())
            return
        self._queue.put_nowait(message)

    async def get(self) -> Message:
        return await self._queue.get()

    def get_nowait(self) -> Message | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._hub._subscriptions.discard(self)


class Hub:
    def __init__(self, state: Callable[[], dict[str, Any]], *, history: int = 10_000) -> None:
        self._state = state
        # Sequence numbers start again when the daemon restarts: a client that resumes must
        # name the stream its `since` belongs to, or it gets a snapshot.
        self.stream = secrets.token_hex(8)
        self._seq = 0
        self._history: deque[Delta] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()

    @property
    def seq(self) -> int:
        return self._seq

    def snapshot(self) -> Snapshot:
        return Snapshot(self._seq, self._state(), self.stream)

    def publish(self, notification: Notification) -> Delta:
        self._seq += 1
        delta = Delta(self._seq, notification.topic, notification.data)
        self._history.append(delta)
        for sub in tuple(self._subscriptions):
            sub._put(delta)
        return delta

    def subscribe(
        self, since: int | None = None, *, stream: str | None = None, limit: int = 50_000
    ) -> Subscription:
        """A new subscription: a snapshot first, or the deltas after `since`.

        A client resuming after a reconnect names the `stream` of its snapshot; a `since` from
        another stream (the daemon restarted meanwhile) gets a fresh snapshot.
        """
        sub = Subscription(self, limit)
        same_stream = stream is None or stream == self.stream
        if since is not None and same_stream and self._can_catch_up(since):
            for delta in self._history:
                if delta.seq > since:
                    sub._put(delta)
        else:
            sub._put(self.snapshot())
        self._subscriptions.add(sub)
        return sub

    def _can_catch_up(self, since: int) -> bool:
        if since > self._seq or since < 0:
            return False
        if since == self._seq:
            return True
        return bool(self._history) and self._history[0].seq <= since + 1
