"""Authentication before the body, and a size limit on bodies, against the real HTTP server.

The daemon's uvicorn server runs in the test's process; requests are written by hand on a
socket so that a test controls exactly how much of a body is sent, and when.

* Without a valid token the answer is 401 before the body is sent at all: a client that has
  sent its headers and one chunk of a huge chunked body gets its 401, and the application
  has been handed no byte of the body (the guard's own counter).
* A Content-Length above the limit is answered 413 before the body is read; a chunked body is
  cut off with 413 once it passes the limit, having read at most one socket read more.
* Pushing 64 MiB of chunked body at the server grows the process's memory by a small fraction
  of that (resident set size from /proc).
* A WebSocket message larger than the stream takes closes the socket (1009, too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from chamber.controller.api import MAX_BODY, GuardStats
from chamber.controller.auth import Role
from chamber.controller.daemon import WS_MAX_MESSAGE

from .conftest import Hall

# A bound on a broken test, not a wait: the answer is already on its way.
ANSWER_TIMEOUT = 30.0
CHUNK = 64 * 1024
SOCKET_READ = 256 * 1024


def guard_stats(hall: Hall) -> GuardStats:
    stats = hall.daemon.app.state.guard_stats
    assert isinstance(stats, GuardStats)
    return stats


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def head(path: str, token: str | None, extra: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], Any]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, json.loads(body)


async def connect(hall: Hall) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", hall.daemon.port)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_no_token_is_refused_before_the_body_is_sent(hall: Hall) -> None:
    stats = guard_stats(hall)
    for token in (None, "not-a-token"):
        reader, writer = await connect(hall)
        try:
            writer.write(head("/api/votes", token, {"Transfer-Encoding": "chunked"}))
            writer.write(chunk(b"[" * CHUNK))
            await writer.drain()
            # The rest of the (endless) body is never sent: the answer comes without it.
            status, headers, problem = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
        finally:
            await close(writer)
        assert status == 401
        assert headers["content-type"].startswith("application/problem+json")
        assert headers["www-authenticate"] == "Bearer"
        assert problem["status"] == 401
    # And a declared 300 MB body, never sent.
    reader, writer = await connect(hall)
    try:
        writer.write(head("/api/votes", None, {"Content-Length": str(300 * 1024 * 1024)}))
        await writer.drain()
        status, _, _ = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
    finally:
        await close(writer)
    assert status == 401
    assert stats.body_bytes == 0


async def test_a_declared_length_over_the_limit_is_refused_unread(hall: Hall) -> None:
    stats = guard_stats(hall)
    reader, writer = await connect(hall)
    try:
        writer.write(
            head("/api/votes", hall.tokens[Role.CHAIR], {"Content-Length": str(MAX_BODY + 1)})
        )
        await writer.drain()
        status, headers, problem = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
    finally:
        await close(writer)
    assert status == 413
    assert headers["content-type"].startswith("application/problem+json")
    assert str(MAX_BODY) in problem["detail"]
    assert stats.body_bytes == 0


async def test_a_chunked_body_is_cut_off_at_the_limit(hall: Hall) -> None:
    stats = guard_stats(hall)
    before = stats.body_bytes
    rss_before = rss_bytes()
    reader, writer = await connect(hall)
    sent = 0

    async def push() -> None:
        nonlocal sent
        data = chunk(b" " * CHUNK)
        with contextlib.suppress(ConnectionError):
            while sent < 64 * 1024 * 1024:
                writer.write(data)
                await writer.drain()
                sent += CHUNK

    writer.write(head("/api/votes", hall.tokens[Role.CHAIR], {"Transfer-Encoding": "chunked"}))
    pusher = asyncio.ensure_future(push())
    try:
        status, _, problem = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher
        await close(writer)
    assert status == 413
    assert problem["code"] == "request.too_large"
    read = stats.body_bytes - before
    # The server hands the body over in pieces of what one socket read brought (asyncio reads
    # at most 256 KiB at a time): the cut comes within one piece of the limit.
    assert MAX_BODY < read <= MAX_BODY + SOCKET_READ
    # Whatever the client managed to push, the process did not keep it.
    assert rss_bytes() - rss_before < 16 * 1024 * 1024


async def test_a_body_within_the_limit_is_served(hall: Hall) -> None:
    await hall.open_sitting()
    body = {"vote_id": "v1", "title": "Nghị quyết " + "x" * 100_000}
    async with hall.client() as chair:
        response = await chair.post("/api/votes", json=body)
    # Read whole and judged by its schema: a title of 100 kB is too long, not too large.
    assert response.status_code == 422, response.text
    assert response.json()["params"]["field"] == "title"


async def test_a_huge_message_on_the_stream_closes_it(hall: Hall) -> None:
    import websockets

    url = f"{hall.url.replace('http://', 'ws://')}/api/stream"
    headers = {"Authorization": f"Bearer {hall.tokens[Role.OBSERVER]}"}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT))
        assert snapshot["type"] == "snapshot"
        await ws.send("x" * (WS_MAX_MESSAGE + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _read_until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def _read_until_closed(ws: Any) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT)
