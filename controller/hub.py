"""The live state stream: each audience's view as a snapshot, then numbered patches to it,
with catch-up after a reconnect.

The views are the read model (`controller.core.view`). Whenever the hall may have changed
(after each durable batch of inputs, after a health change) the runtime calls `refresh()`: the
views are projected again, and every audience whose view differs gets a patch (RFC 6902
operations, `controller.core.patch`) under the next sequence number. A refresh that changes
nothing takes no number. An audience whose view did not change at some number gets no message
for it: each patch names the number of that audience's previous message (`prev`), so a client
can tell that it missed nothing (`prev` is at most the number it holds).

A subscriber that reconnects says the last sequence number it saw (and the `stream` that
number belongs to); if the patches since then are still in the ring buffer it gets exactly
those, otherwise a fresh snapshot. No gap, ever.

Pure asyncio and no I/O: the API's WebSocket, the MQTT wall publisher and the demo's terminal
view are all subscribers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from chamber.controller.core.patch import Operation, diff, escape
from chamber.controller.core.view import Audience, View

# The version of the stream's message format (the `format` of every snapshot).
FORMAT = 2


@dataclass(frozen=True)
class Patch:
    seq: int
    # The number of this audience's previous message: its snapshot's or its last patch's.
    prev: int
    audience: Audience
    ops: tuple[Operation, ...]
    # The daemon's clock when the patch was made (seconds, monotonic).
    clock: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "patch",
            "seq": self.seq,
            "prev": self.prev,
            "clock": self.clock,
            "ops": list(self.ops),
        }


@dataclass(frozen=True)
class Snapshot:
    seq: int
    # The audience's view (a `View`, as plain JSON).
    state: dict[str, Any]
    stream: str = ""
    audience: Audience = Audience.CHAIR
    # The daemon's clock when the snapshot was taken: countdowns shown after a (re)connect
    # start from here.
    clock: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "format": FORMAT,
            "seq": self.seq,
            "stream": self.stream,
            "audience": self.audience.value,
            "clock": self.clock,
            "state": self.state,
        }


Message = Patch | Snapshot


@dataclass(frozen=True)
class _Entry:
    seq: int
    patches: Mapping[Audience, Patch]


class Subscription:
    """One subscriber's queue. A subscriber too slow to keep up is resynchronised, not dropped."""

    def __init__(self, hub: Hub, audience: Audience, limit: int) -> None:
        self._hub = hub
        self.audience = audience
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._limit = limit
        self.overflowed = False

    def _put(self, message: Message) -> None:
        if self._queue.qsize() >= self._limit:
            # Replace the backlog with one fresh snapshot: the subscriber loses no state.
            while not self._queue.empty():
                self._queue.get_nowait()
            self.overflowed = True
            self._queue.put_nowait(self._hub.snapshot(self.audience))
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
    """The views as last refreshed, their numbered patches, and the subscribers.

    `views()` projects every audience's view now; `clock()` reads the daemon's clock."""

    def __init__(
        self,
        views: Callable[[], Mapping[Audience, View]],
        *,
        clock: Callable[[], float] = lambda: 0.0,
        history: int = 10_000,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self._project = views
        # Called before a read (a view, a snapshot, a new subscription): the owner's chance to
        # carry out a refresh it has put off (the runtime paces its refreshes), so that a read
        # never answers with a state older than what the core has made durable.
        self._flush = flush
        self._clock = clock
        # Sequence numbers start again when the daemon restarts: a client that resumes must
        # name the stream its `since` belongs to, or it gets a snapshot.
        self.stream = secrets.token_hex(8)
        self._seq = 0
        self._views: dict[Audience, View] | None = None
        self._last: dict[Audience, int] = dict.fromkeys(Audience, 0)
        self._history: deque[_Entry] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open (the stream's clients and the wall twin)."""
        return len(self._subscriptions)

    @property
    def seq(self) -> int:
        return self._seq

    def _current(self) -> dict[Audience, View]:
        if self._views is None:
            self._views = dict(self._project())
        return self._views

    def view(self, audience: Audience = Audience.CHAIR) -> View:
        """`audience`'s view as of the last refresh (the state at `seq`)."""
        self._flush()
        return self._current()[audience]

    def snapshot(self, audience: Audience = Audience.CHAIR) -> Snapshot:
        state = cast(dict[str, Any], self.view(audience))
        return Snapshot(self._seq, state, self.stream, audience, self._clock())

    def refresh(self) -> int | None:
        """Project the views again; number and send the patches of those that changed.

        Returns the new sequence number, or None when no view changed."""
        before = self._current()
        after = dict(self._project())
        # Views share their parts (the observer's are the chair's, the wall's some of them):
        # each part is diffed once, and its operations reused by every view that holds it.
        memo: dict[tuple[int, int], list[Operation]] = {}
        changed: dict[Audience, list[Operation]] = {}
        for audience in Audience:
            ops = _diff_view(before[audience], after[audience], memo)
            if ops:
                changed[audience] = ops
        self._views = after
        if not changed:
            return None
        self._seq += 1
        clock = self._clock()
        patches = {
            audience: Patch(self._seq, self._last[audience], audience, tuple(ops), clock)
            for audience, ops in changed.items()
        }
        for audience in patches:
            self._last[audience] = self._seq
        self._history.append(_Entry(self._seq, patches))
        for sub in tuple(self._subscriptions):
            patch = patches.get(sub.audience)
            if patch is not None:
                sub._put(patch)
        return self._seq

    def subscribe(
        self,
        since: int | None = None,
        *,
        stream: str | None = None,
        audience: Audience = Audience.CHAIR,
        limit: int = 50_000,
    ) -> Subscription:
        """A new subscription: a snapshot first, or the patches after `since`.

        A client resuming after a reconnect names the `stream` of its snapshot; a `since` from
        another stream (the daemon restarted meanwhile) gets a fresh snapshot.
        """
        self._flush()
        sub = Subscription(self, audience, limit)
        same_stream = stream is None or stream == self.stream
        if since is not None and same_stream and self._can_catch_up(since):
            for entry in self._history:
                if entry.seq > since:
                    patch = entry.patches.get(audience)
                    if patch is not None:
                        sub._put(patch)
        else:
            sub._put(self.snapshot(audience))
        self._subscriptions.add(sub)
        return sub

    def _can_catch_up(self, since: int) -> bool:
        if since > self._seq or since < 0:
            return False
        if since == self._seq:
            return True
        return bool(self._history) and self._history[0].seq <= since + 1


def _diff_view(old: Any, new: Any, memo: dict[tuple[int, int], list[Operation]]) -> list[Operation]:
    """`diff(old, new)` for two views, member by member, each member's diff taken once per
    (old part, new part) pair in `memo`."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return diff(old, new)
    ops: list[Operation] = [
        {"op": "remove", "path": f"/{escape(key)}"} for key in old if key not in new
    ]
    for key, value in new.items():
        where = f"/{escape(key)}"
        if key not in old:
            ops.append({"op": "add", "path": where, "value": value})
            continue
        pair = (id(old[key]), id(value))
        part = memo.get(pair)
        if part is None:
            part = memo[pair] = diff(old[key], value, memo)
        ops.extend({**op, "path": where + op["path"]} for op in part)
    return ops
