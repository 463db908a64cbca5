"""What the API's resources share: problems (RFC 9457), tokens and roles, the guard in
front of /api/, the base of request bodies, a command's answer, and the routes' `Context`.

Every refusal is a problem with a stable `code` and its `params` (the table is
`chamber.controller.core.refusals.REFUSALS`), and a `detail` sentence in the language the
request asks for (`Accept-Language`: Vietnamese or English), else in the hall's language.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, overload

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chamber.controller.auth import Principal, Role, TokenStore
from chamber.controller.commissioning import Commissioning
from chamber.controller.core import inputs as I
from chamber.controller.core.i18n import refusal_text
from chamber.controller.core.model import Language
from chamber.controller.core.refusals import REFUSALS, ParamValue
from chamber.controller.core.view import Audience, audience_for
from chamber.controller.runtime import Runtime

log = logging.getLogger("chamber.api")


PROBLEM = "application/problem+json"
# The largest request body: the biggest command (a sitting with its agenda) is a few KiB.
MAX_BODY = 256 * 1024

CHAIR = frozenset({Role.CHAIR})
CHAIR_SECRETARY = frozenset({Role.CHAIR, Role.SECRETARY})
STAFF = frozenset({Role.CHAIR, Role.SECRETARY, Role.TECHNICIAN})
TECH = frozenset({Role.TECHNICIAN, Role.CHAIR})


class Problem(Exception):
    """A refusal of the API itself (token, role, body, export ...): a code of `REFUSALS` and
    its parameters; the status is the code's.

    The older form `Problem(status, title, detail)` is still taken (code "http.error" with
    the detail as its message), for a route not yet given a code of its own."""

    code: str
    params: Mapping[str, ParamValue]
    status: int

    @overload
    def __init__(self, code: str, /, **params: ParamValue) -> None: ...

    @overload
    def __init__(self, code: int, title: str, detail: str, /) -> None: ...

    def __init__(self, code: str | int, /, *legacy: str, **params: ParamValue) -> None:
        if isinstance(code, int):
            self.status = code
            self.code = "http.error"
            self.params = {"status": code, "message": legacy[-1] if legacy else ""}
        else:
            spec = REFUSALS.get(code)
            self.status = spec.status if spec is not None else 500
            self.code = code
            self.params = dict(params)
        super().__init__(refusal_text(Language.EN, self.code, self.params))


def accepted_language(header: str | None, default: Language) -> Language:
    """The language `Accept-Language` asks for first among Vietnamese and English ("vi-VN,
    en;q=0.5" -> vi); `default` (the hall's) when it names neither, or says "*"."""
    best: tuple[float, int, Language] | None = None
    for position, item in enumerate((header or "").split(",")):
        tag, _, rest = item.strip().partition(";")
        q = 1.0
        for part in rest.split(";"):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary == "*":
            found = default
        else:
            try:
                found = Language(primary)
            except ValueError:
                continue
        if q <= 0 or q != q:
            continue
        if best is None or (q, -position) > (best[0], best[1]):
            best = (q, -position, found)
    return best[2] if best is not None else default


def refusal_body(
    language: Language, status: int, code: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """A refusal as RFC 9457 members: type, title, status, detail (in `language`), code, params."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": refusal_text(language, code, params),
        "code": code,
        "params": dict(params),
    }


def refusal_response(
    language: Language,
    code: str,
    params: Mapping[str, Any] | None = None,
    *,
    status: int | None = None,
    **extra: Any,
) -> JSONResponse:
    """The problem+json answer of refusal `code` (its status, unless `status` is given)."""
    spec = REFUSALS.get(code)
    if status is None:
        status = spec.status if spec is not None else 500
    body = {**refusal_body(language, status, code, params or {}), **extra}
    headers = {"Content-Language": language.value}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem with a title and detail of the caller's own (no code of the catalogue)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def request_language(request: Request) -> Language:
    """The language a request's refusals are worded in: Accept-Language, else the hall's."""
    return accepted_language(request.headers.get("accept-language"), hall_language(request))


def hall_language(request: Request) -> Language:
    runtime = getattr(request.app.state, "runtime", None)
    language = getattr(getattr(getattr(runtime, "config", None), "hall", None), "language", None)
    return language if isinstance(language, Language) else Language.VI


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


# The principal of the request being served: `ApiGuard` sets it before the application runs,
# and every command the request makes carries it as its actor (`stamp`).
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)


def actor_of(principal: Principal) -> I.Actor:
    return I.Actor(principal.account or principal.role.value, principal.name, principal.role.value)


def stamp(inp: I.Input) -> I.Input:
    """`inp` with the actor of the request being served (a command; other inputs as they are)."""
    principal = current_principal.get()
    if principal is None or not isinstance(inp, I.Command):
        return inp
    return dataclasses.replace(inp, actor=actor_of(principal))


def _check_token(tokens: TokenStore, raw: str | None) -> Principal:
    if not raw:
        raise Problem("auth.token_missing")
    principal = tokens.lookup(raw)
    if principal is None:
        raise Problem("auth.token_invalid")
    return principal


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, max_body: int = MAX_BODY) -> None:
        super().__init__(413, f"the request body is larger than {max_body} bytes")
        self.max_body = max_body


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
        language: Language = Language.VI,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.stats = stats
        self.max_body = max_body
        # The hall's language: a refusal's words when Accept-Language names none we speak.
        self.language = language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)

        def refused(code: str, params: Mapping[str, Any], status: int) -> JSONResponse:
            self.stats.refused += 1
            language = accepted_language(headers.get("accept-language"), self.language)
            return refusal_response(language, code, params, status=status)

        try:
            principal = _check_token(self.tokens, _bearer(headers))
            scope.setdefault("state", {})["principal"] = principal
            current_principal.set(principal)
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit() or len(length) > 18:
                    raise Problem("request.bad_length")
                if int(length) > self.max_body:
                    raise BodyTooLarge(self.max_body)
        except Problem as exc:
            await refused(exc.code, exc.params, exc.status)(scope, receive, send)
            return
        except BodyTooLarge:
            await refused("request.too_large", {"max_bytes": self.max_body}, 413)(
                scope, receive, send
            )
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
                    raise BodyTooLarge(self.max_body)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            response = refused("request.too_large", {"max_bytes": self.max_body}, 413)
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
                "auth.role_forbidden",
                role=principal.role.value,
                allowed=", ".join(sorted(r.value for r in roles)),
            )
        return principal

    return dependency


# The refusals a route may answer with; their body is the `Problem` schema (its `code` is one of
# the OpenAPI document's `x-refusals`).
_PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_REFUSAL_STATUSES = {
    401: "no valid token (auth.*)",
    403: "role not allowed (auth.role_forbidden)",
    404: "not found (e.g. vote.not_found, seat.not_found)",
    409: "refused in the current state (e.g. vote.wrong_state)",
    422: "invalid request (request.*, or e.g. vote.title_missing)",
}


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
        # The technician's commissioning of lines (its routes: `api/technician.py`).
        self.commissioning = Commissioning(runtime)

    async def run(self, make: Callable[[float], I.Input]) -> Accepted:
        await self.runtime.command(lambda at: stamp(make(at)))
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
                    status: {"description": text, "content": _PROBLEM_CONTENT}
                    for status, text in _REFUSAL_STATUSES.items()
                },
            )
            return fn

        return register

    def audience(self, request: Request) -> Audience:
        """The audience of the caller's role: whose view a query answers from."""
        found = audience_for(_principal(request).role.value)
        assert found is not None  # a role's own audience is always served
        return found
