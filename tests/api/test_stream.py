"""The live stream over a real WebSocket: a snapshot first, then deltas numbered one by one;
a reconnect with `since=N` resumes exactly after delta N; a `since` the hub can no longer
serve gets a fresh snapshot."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from controller.auth import Role
from controller.core.inputs import PresenceChanged

from .conftest import SITTING, Hall

# A bound on a broken test, not a wait: every message below is already on its way.
RECV_TIMEOUT = 10.0


def stream_url(hall: Hall, role: Role = Role.OBSERVER, since: int | None = None) -> str:
    url = f"{hall.url.replace('http://', 'ws://')}/api/stream?token={hall.tokens[role]}"
    return url if since is None else f"{url}&since={since}"


async def recv(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
    assert isinstance(message, dict)
    return message


async def recv_until(ws: ClientConnection, seq: int) -> list[dict[str, Any]]:
    """Every message up to and including the one numbered `seq`."""
    out = [await recv(ws)]
    while out[-1]["seq"] < seq:
        out.append(await recv(ws))
    return out


def assert_consecutive(deltas: list[dict[str, Any]], after: int) -> None:
    assert [d["type"] for d in deltas] == ["delta"] * len(deltas)
    assert [d["seq"] for d in deltas] == list(range(after + 1, after + 1 + len(deltas)))


async def toggle_presence(hall: Hall, seat: int, times: int) -> None:
    await hall.feed(
        *(PresenceChanged(at=hall.clock.now(), seat=seat, present=i % 2 == 0) for i in range(times))
    )


async def test_snapshot_first_then_consecutive_deltas(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    async with websockets.connect(stream_url(hall)) as ws:
        first = await recv(ws)
        assert first["type"] == "snapshot"
        assert first["seq"] == hub.seq
        assert first["state"]["hall"]["name"] == "Hội đồng nhân dân tỉnh Ninh Bình khóa XV"
        assert first["state"]["sitting"]["open"] is False
        await hall.open_sitting(range(1, 6))
        deltas = await recv_until(ws, hub.seq)
        assert_consecutive(deltas, first["seq"])
        topics = [d["topic"] for d in deltas]
        assert "sitting.changed" in topics
        assert topics.count("attendance.changed") == 5
        sitting = next(d for d in deltas if d["topic"] == "sitting.changed")
        assert sitting["data"]["title"] == SITTING["title"]


async def test_reconnect_with_since_resumes_without_gap_or_duplicate(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    await hall.open_sitting(range(1, 4))
    async with websockets.connect(stream_url(hall, Role.CHAIR)) as witness:
        start = await recv(witness)
        assert start["type"] == "snapshot"
        async with websockets.connect(stream_url(hall)) as ws:
            snap = await recv(ws)
            assert snap["seq"] == start["seq"]
            await toggle_presence(hall, 10, 6)
            before = await recv_until(ws, hub.seq)
        last_seen = before[-1]["seq"]
        # While the client is away the hall goes on.
        await toggle_presence(hall, 11, 7)
        assert hub.seq > last_seen
        async with websockets.connect(stream_url(hall, since=last_seen)) as ws:
            after = await recv_until(ws, hub.seq)
            assert_consecutive(after, last_seen)
            # Nothing else was queued: the next message is the next delta, not a repeat.
            await toggle_presence(hall, 12, 1)
            following = await recv(ws)
            assert following["type"] == "delta"
            assert following["seq"] == after[-1]["seq"] + 1
        # What the reconnecting client saw is exactly what a client never away saw.
        seen_by_witness = await recv_until(witness, following["seq"])
        assert before + after + [following] == seen_by_witness


async def test_since_equal_to_now_gets_only_new_deltas(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    await hall.open_sitting(range(1, 3))
    now = hub.seq
    async with websockets.connect(stream_url(hall, since=now)) as ws:
        await toggle_presence(hall, 20, 1)
        message = await recv(ws)
        assert message["type"] == "delta"
        assert message["seq"] == now + 1


async def test_too_old_or_unknown_since_gets_a_snapshot(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    await hall.open_sitting(range(1, 3))
    # More deltas than the hub keeps (10,000): the oldest fall out of its history.
    await toggle_presence(hall, 30, 10_010)
    assert hub.seq > 10_000
    for since in (1, hub.seq + 50):  # too old; from before a restart (ahead of the hub)
        async with websockets.connect(stream_url(hall, since=since)) as ws:
            message = await recv(ws)
            assert message["type"] == "snapshot"
            assert message["seq"] == hub.seq
            # Seat 30 came and went 5,005 times and is out: seats 1 and 2 remain.
            assert message["state"]["attendance"]["present"] == 2


async def test_negative_since_is_refused(hall: Hall) -> None:
    # Refused at the handshake (the query fails validation): never served a stream.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(stream_url(hall, since=-1)):
            pass
    assert refused.value.response.status_code == 403
