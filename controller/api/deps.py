"""What the API's resources share: problems (RFC 9457), tokens and roles, the guard in
front of /api/, the base of request bodies, a command's answer, and the routes' `Context`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chamber.controller.auth import Principal, Role, TokenStore
from chamber.controller.core import inputs as I
from chamber.controller.core.view import Audience, audience_for
from chamber.controller.runtime import Runtime

log = logging.getLogger("chamber.api")


PROBLEM = "application/problem+json"
# The largest request body: the biggest command (a sitting with its agenda) is a few KiB.
MAX_BODY = 256 * 1024
STATUS_OF_CODE = {"not-found": 404, "conflict": 409, "invalid": 422}

CHAIR = frozenset({Role.CHAIR})
CHAIR_SECRETARY = frozenset({Role.CHAIR, Role.SECRETARY})
STAFF = frozenset({Role.CHAIR, Role.SECRETARY, Role.TECHNICIAN})
TECH = frozenset({Role.TECHNICIAN, Role.CHAIR})


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _bearer(request_headers: Any) -> str | None:
    auth = request_headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        token: str = auth[7:].strip()
        return token or None
    return None


def _token_from(request_headers: Any, query_token: str | None) -> str | None:
    """The stream's token: the Authorization header, else `?token=` (a browser's WebSocket
    cannot send a header). Only the stream takes a token from the URL."""
    return _bearer(request_headers) or query_token


def _check_token(tokens: TokenStore, raw: str | None) -> Principal:
    if not raw:
        raise Problem(401, "Unauthorized", "a bearer token is required")
    principal = tokens.lookup(raw)
    if principal is None:
        raise Problem(401, "Unauthorized", "the token is not valid")
    return principal


class BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the request body is larger than {MAX_BODY} bytes")


@dataclass
class GuardStats:
    """What `ApiGuard` let through: body bytes handed to the application, requests refused."""

    body_bytes: int = 0
    refused: int = 0


class ApiGuard:
    """Pure ASGI middleware in front of every HTTP route under /api/.

    The token (Authorization header only) is checked before the application runs, so a
    request without a valid one is answered 401 before a byte of its body is read. A body is
    limited to `MAX_BODY` bytes: a larger Content-Length is answered 413 at once, and a
    chunked body is counted as it arrives and cut off with 413 once it passes the limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenStore,
        stats: GuardStats,
        *,
        max_body: int = MAX_BODY,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.stats = stats
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            scope.setdefault("state", {})["principal"] = _check_token(self.tokens, _bearer(headers))
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit() or len(length) > 18:
                    raise Problem(400, "Bad request", "Content-Length is not a number")
                if int(length) > self.max_body:
                    raise BodyTooLarge()
        except Problem as exc:
            self.stats.refused += 1
            await problem_response(exc.status, exc.title, exc.detail)(scope, receive, send)
            return
        except BodyTooLarge as exc:
            self.stats.refused += 1
            await problem_response(413, "Content too large", str(exc.detail))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                self.stats.body_bytes += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            self.stats.refused += 1
            response = problem_response(413, "Content too large", str(exc.detail))
            await response(scope, receive, send)


def _principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        store: TokenStore = request.app.state.tokens
        principal = _check_token(store, _bearer(request.headers))
    return principal


def allow(roles: frozenset[Role]) -> Callable[..., Principal]:
    """A dependency that admits only `roles`; its route documents them as `x-roles`.

    `ApiGuard` has already checked the token (from the Authorization header)."""

    def dependency(request: Request) -> Principal:
        principal = _principal(request)
        if principal.role not in roles:
            raise Problem(
                403,
                "Forbidden",
                f"role {principal.role.value} may not do this "
                f"(allowed: {', '.join(sorted(r.value for r in roles))})",
            )
        return principal

    return dependency


def _roles_extra(roles: frozenset[Role]) -> dict[str, Any]:
    return {"x-roles": sorted(r.value for r in roles)}


# --- request bodies ---------------------------------------------------------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Accepted(BaseModel):
    ok: bool = True
    seq: int


# --- what every resource's routes share ----------------------------------------------------------


class Context:
    """What the routes of every resource share: the runtime, the router under /api, and
    how a route declares its roles (`route`) and runs a command (`run`)."""

    def __init__(self, runtime: Runtime, tokens: TokenStore) -> None:
        self.runtime = runtime
        self.tokens = tokens
        self.api = APIRouter(prefix="/api")

    async def run(self, make: Callable[[float], I.Input]) -> Accepted:
        await self.runtime.command(make)
        return Accepted(seq=self.runtime.hub.seq)

    def route(
        self, router: APIRouter, method: str, path: str, roles: frozenset[Role], summary: str
    ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        def register(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            router.add_api_route(
                path,
                fn,
                methods=[method],
                summary=summary,
                dependencies=[Depends(allow(roles))],
                openapi_extra=_roles_extra(roles),
                responses={
                    401: {"description": "no valid token"},
                    403: {"description": "role not allowed"},
                    404: {"description": "not found"},
                    409: {"description": "refused in the current state"},
                    422: {"description": "invalid request"},
                },
            )
            return fn

        return register

    def audience(self, request: Request) -> Audience:
        """The audience of the caller's role: whose view a query answers from."""
        found = audience_for(_principal(request).role.value)
        assert found is not None  # a role's own audience is always served
        return found
