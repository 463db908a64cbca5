"""The live stream over a real WebSocket: a view as a snapshot first, then numbered patches to
it; a reconnect with `since=N` resumes exactly after message N; a `since` the hub can no longer
serve gets a fresh snapshot; applying the patches to the snapshot gives the view of now."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from chamber.controller.auth import Role
from chamber.controller.core.inputs import PresenceChanged
from chamber.controller.core.patch import apply
from chamber.controller.core.view import Audience
from chamber.controller.hub import Hub

from .conftest import SITTING, Hall

# A bound on a broken test, not a wait: every message below is already on its way.
RECV_TIMEOUT = 10.0


def stream_url(
    hall: Hall, role: Role = Role.OBSERVER, since: int | None = None, view: str | None = None
) -> str:
    url = f"{hall.url.replace('http://', 'ws://')}/api/stream?token={hall.tokens[role]}"
    if view is not None:
        url += f"&view={view}"
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


def assert_chained(patches: list[dict[str, Any]], after: int) -> None:
    """Patches that follow each other from `after`: each names the one before as `prev`."""
    assert [p["type"] for p in patches] == ["patch"] * len(patches)
    prev = after
    for patch in patches:
        assert patch["prev"] == prev
        assert patch["seq"] > prev
        prev = patch["seq"]


async def toggle_presence(hall: Hall, seat: int, times: int) -> None:
    await hall.feed(
        *(PresenceChanged(at=hall.clock.now(), seat=seat, present=i % 2 == 0) for i in range(times))
    )


async def test_snapshot_first_then_chained_patches(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    async with websockets.connect(stream_url(hall)) as ws:
        first = await recv(ws)
        assert first["type"] == "snapshot"
        assert first["format"] == 2
        assert first["audience"] == "observer"
        # The daemon's start (its clock anchor) may still be on its way as a patch.
        assert first["seq"] <= hub.seq
        assert first["state"]["hall"]["name"] == "Hội đồng nhân dân tỉnh Ninh Bình khóa XV"
        assert first["state"]["sitting"]["open"] is False
        await hall.open_sitting(range(1, 6))
        patches = await recv_until(ws, hub.seq)
        assert_chained(patches, first["seq"])
        view = first["state"]
        for patch in patches:
            view = apply(view, patch["ops"])
        assert view["sitting"]["title"] == SITTING["title"]
        assert view["attendance"]["present_seats"] == [1, 2, 3, 4, 5]
        assert view == json.loads(json.dumps(hub.view(Audience.OBSERVER)))


async def test_the_wall_view_on_request(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    await hall.open_sitting(range(1, 3))
    async with websockets.connect(stream_url(hall, view="wall")) as ws:
        first = await recv(ws)
        assert first["audience"] == "wall"
        assert set(first["state"]) >= {"vote", "sitting", "quorum", "floor"}
        assert "votes" not in first["state"]
        assert "health" not in first["state"]
        async with hall.client() as chair:
            created = await chair.post("/api/votes", json={"title": "Nghị quyết số 1"})
            assert created.status_code == 200, created.text
        vote_id = created.json()["vote_id"]
        view = first["state"]
        for patch in await recv_until(ws, hub.seq):
            view = apply(view, patch["ops"])
        assert view["vote"]["vote_id"] == vote_id
    # The technician may not take the chair's view, and nobody a view that does not exist.
    for role, wanted in ((Role.TECHNICIAN, "chair"), (Role.OBSERVER, "chair"), (Role.CHAIR, "x")):
        async with websockets.connect(stream_url(hall, role, view=wanted)) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403


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
            assert_chained(after, last_seen)
            # Nothing else was queued: the next message is the next patch, not a repeat.
            await toggle_presence(hall, 12, 1)
            following = await recv(ws)
            assert following["type"] == "patch"
            assert following["seq"] == after[-1]["seq"] + 1
        # What the reconnecting client saw is exactly what a client never away saw.
        seen_by_witness = await recv_until(witness, following["seq"])
        assert before + after + [following] == seen_by_witness


async def test_since_equal_to_now_gets_only_new_patches(hall: Hall) -> None:
    hub = hall.daemon.runtime.hub
    await hall.open_sitting(range(1, 3))
    now = hub.seq
    async with websockets.connect(stream_url(hall, since=now)) as ws:
        await toggle_presence(hall, 20, 1)
        message = await recv(ws)
        assert message["type"] == "patch"
        assert message["seq"] == now + 1


async def test_too_old_or_unknown_since_gets_a_snapshot(hall: Hall) -> None:
    runtime = hall.daemon.runtime
    # A hub that keeps 20 patches (the daemon's keeps 10,000).
    hub = runtime.hub = Hub(runtime.views, clock=runtime.clock.now, history=20)
    await hall.open_sitting(range(1, 3))
    # More patches than the hub keeps: the oldest fall out of its history.
    for _ in range(13):
        await toggle_presence(hall, 30, 1)
        await toggle_presence(hall, 30, 2)
    assert hub.seq > 20
    for since in (1, hub.seq + 50):  # too old; from before a restart (ahead of the hub)
        async with websockets.connect(stream_url(hall, since=since)) as ws:
            message = await recv(ws)
            assert message["type"] == "snapshot"
            assert message["seq"] == hub.seq
            # Seat 30 came and went 13 times and is out: seats 1 and 2 remain.
            assert message["state"]["attendance"]["present"] == 2


async def test_negative_since_is_refused(hall: Hall) -> None:
    # Refused at the handshake (the query fails validation): never served a stream.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(stream_url(hall, since=-1)):
            pass
    assert refused.value.response.status_code == 403
