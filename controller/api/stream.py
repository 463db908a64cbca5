"""The live stream: the caller's view as a snapshot, then numbered patches (docs/stream.md)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect

from chamber.controller.api.deps import (
    _token_from,
)
from chamber.controller.auth import Role, TokenStore
from chamber.controller.core.view import audience_for
from chamber.controller.runtime import Runtime


def register(app: FastAPI, runtime: Runtime, tokens: TokenStore) -> None:

    @app.websocket("/api/stream")
    async def stream(
        ws: WebSocket,
        token: str | None = None,
        since: Annotated[int | None, Query(ge=0)] = None,
        stream_id: Annotated[str | None, Query(alias="stream", max_length=64)] = None,
        view: Annotated[str | None, Query(max_length=32)] = None,
    ) -> None:
        raw = _token_from(ws.headers, token)
        await ws.accept()
        principal = tokens.lookup(raw) if raw else None
        if principal is None:
            # Accepted first: closing during the handshake would reach the client as a bare
            # HTTP 403, and a browser could not tell a bad token from a refused origin.
            await ws.close(code=4401, reason="a valid token is required")
            return
        # A metrics token reads /metrics and nothing else.
        metrics_only = principal.role is Role.METRICS
        served = None if metrics_only else audience_for(principal.role.value, view)
        if served is None:
            await ws.close(code=4403, reason=f"role {principal.role.value} may not see {view}")
            return
        # The account removed, disabled or given a new token (`chamber users`): closed at once.
        revoked = asyncio.Event()
        account = principal.account

        def on_revoke(ids: frozenset[str]) -> None:
            if account in ids:
                revoked.set()

        stop_watching = tokens.on_revoke(on_revoke)
        sub = runtime.hub.subscribe(since, stream=stream_id, audience=served)
        receiver = asyncio.ensure_future(_drain(ws))
        revocation = asyncio.ensure_future(revoked.wait())
        try:
            while True:
                getter = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait(
                    {getter, receiver, revocation}, return_when=asyncio.FIRST_COMPLETED
                )
                if revocation in done:
                    getter.cancel()
                    await ws.close(code=4401, reason="the account was revoked")
                    break
                if receiver in done:
                    getter.cancel()
                    break
                await ws.send_json(getter.result().to_json())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            stop_watching()
            revocation.cancel()
            sub.close()
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so that a disconnect is noticed."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
