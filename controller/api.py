"""The daemon's HTTP API: chair, secretary and technician commands, queries, and the live stream.

Built around a running `Runtime` (never a module global): `create_app(runtime, tokens)`.
Every route declares the roles it allows (`x-roles` in the OpenAPI document); a request without
a valid token gets 401, a role not allowed gets 403. Errors are RFC 9457
`application/problem+json`: a command the meeting core refuses gets 404/409/422 with the core's
own sentence, e.g. 409 "vote v12 is closed".

The queries and the WebSocket `/api/stream` are served from the read model
(`controller.core.view`): each role sees its audience's view. The stream sends that view as a
snapshot first, then numbered patches to it (docs/stream.md); reconnecting with `?since=N`
resumes exactly after message N; `?view=wall` (or `observer`) asks for a public view instead
of the token's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.auth import ALL_ROLES, Principal, Role, TokenStore
from controller.core import inputs as I
from controller.core.errors import CommandRejected
from controller.core.limits import (
    MAX_CHOICES,
    MAX_OPEN_MICS,
    MAX_TURN_S,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    MIN_OPEN_MICS,
    UNTIMED,
)
from controller.core.model import AnswerSet, Language, MicMode, SpeakerList, VoteMode
from controller.core.view import Audience, audience_for, results
from controller.exports import (
    MEDIA_TYPES,
    ExportError,
    Format,
    JournalView,
    What,
    render,
    replay_journal,
)
from controller.runtime import Runtime
from controller.signing import HallKey, SigningError, signed_result

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


class AgendaItemIn(Body):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=500)]


class OpenSittingIn(Body):
    sitting_id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=500)]
    agenda: list[AgendaItemIn] = []


class PresenceIn(Body):
    present: bool


class CreateVoteIn(Body):
    # Left out, the daemon gives the vote an id and returns it.
    vote_id: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] | None
    ) = None
    title: Annotated[str, Field(min_length=1, max_length=500)]
    answers: AnswerSet = AnswerSet.YES_NO_ABSTAIN
    choices: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=MAX_CHOICES)
    ] = []
    mode: VoteMode | None = None
    rule: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # 0 (`UNTIMED`): no time limit, the chair closes the vote by hand.
    duration_s: Annotated[float, Field(ge=UNTIMED, le=MAX_VOTE_DURATION_S)] | None = None
    warning_s: Annotated[float, Field(ge=0, le=MAX_VOTE_WARNING_S)] | None = None
    change_until_close: bool | None = None
    quorum_required: bool | None = None
    weighted: bool = False
    item_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class SeatListIn(Body):
    seat: Annotated[int, Field(ge=1)]
    list: SpeakerList = SpeakerList.SPEAK


class GrantIn(Body):
    seat: Annotated[int, Field(ge=1)]
    list: SpeakerList | None = None


class NextIn(Body):
    list: SpeakerList | None = None


class RevokeIn(Body):
    seat: Annotated[int, Field(ge=1)] | None = None


class PriorityIn(Body):
    held: bool


class ModeIn(Body):
    mode: MicMode
    max_open: Annotated[int, Field(ge=MIN_OPEN_MICS, le=MAX_OPEN_MICS)] | None = None


class TimeIn(Body):
    list: SpeakerList
    seconds: Annotated[float, Field(ge=0, le=MAX_TURN_S)]


class ExtendIn(Body):
    seat: Annotated[int, Field(ge=1)]
    seconds: Annotated[float, Field(gt=0, le=MAX_TURN_S)]


class MicIn(Body):
    on: bool


# Query parameters of the exports (module level: FastAPI resolves the annotations by name).
Sitting = Annotated[str | None, Query(max_length=64, description="a sitting's id")]
Lang = Annotated[Language | None, Query(description="language of the minutes")]


class Accepted(BaseModel):
    ok: bool = True
    seq: int


class VoteCreated(Accepted):
    vote_id: str


# How many ids the daemon tries for a vote made without one before it gives up.
VOTE_ID_TRIES = 100


def _ascii_id(text: str) -> str:
    """ "Kỳ họp 2" -> "Ky-hop-2": what a vote id may hold, the Vietnamese letters unaccented."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9_.-]", "", re.sub(r"\s+", "-", plain.strip()))[:48]


def vote_ids(view: Any) -> Iterator[str]:
    """Ids for a new vote, in the order to try them: v1, v2, ... in the first sitting, then
    SITTING-v1, ... (the daemon keeps vote ids unique across sittings, so after the first
    sitting an id carries its sitting's), skipping those the sitting already has."""
    used = {v.get("vote_id") for v in view.get("votes", [])}
    sitting = _ascii_id(str(view.get("sitting", {}).get("sitting_id") or ""))
    prefix = f"{sitting}-v" if sitting and view.get("sittings") else "v"
    n = len(used) + 1
    while True:
        if f"{prefix}{n}" not in used:
            yield f"{prefix}{n}"
        n += 1


# --- the app ------------------------------------------------------------------------------------


def create_app(runtime: Runtime, tokens: TokenStore, *, static_dir: str | None = None) -> FastAPI:
    app = FastAPI(
        title="chamber",
        version="0.1.0",
        description="The API of a chamber daemon: a council hall's voting and microphones.",
    )
    app.state.runtime = runtime
    app.state.tokens = tokens
    app.state.guard_stats = GuardStats()
    app.add_middleware(ApiGuard, tokens=tokens, stats=app.state.guard_stats)

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail)

    @app.exception_handler(CommandRejected)
    async def _rejected(_: Request, exc: CommandRejected) -> JSONResponse:
        status = STATUS_OF_CODE.get(exc.code, 409)
        return problem_response(status, exc.code.replace("-", " ").capitalize(), exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        return problem_response(
            422,
            "Unprocessable request",
            f"{where}: {first['msg']}",
            errors=[
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errors
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = "Content too large" if isinstance(exc, BodyTooLarge) else str(exc.detail)
        return problem_response(exc.status_code, title, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("API error", extra={"event": "api-error"})
        return problem_response(500, "Internal error", type(exc).__name__)

    async def run(make: Callable[[float], I.Input]) -> Accepted:
        await runtime.command(make)
        return Accepted(seq=runtime.hub.seq)

    def route(
        router: APIRouter, method: str, path: str, roles: frozenset[Role], summary: str
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

    api = APIRouter(prefix="/api")

    # --- queries ----------------------------------------------------------------------------

    def audience(request: Request) -> Audience:
        found = audience_for(_principal(request).role.value)
        assert found is not None  # a role's own audience is always served
        return found

    @route(api, "GET", "/state", ALL_ROLES, "The caller's view of the hall (the stream's snapshot)")
    async def get_state(request: Request) -> dict[str, Any]:
        return runtime.hub.snapshot(audience(request)).to_json()

    @route(api, "GET", "/hall", ALL_ROLES, "The body, its delegates and the seating chart")
    async def get_hall() -> dict[str, Any]:
        hall = runtime.config.hall
        return {
            "id": runtime.config.hall_id,
            "name": hall.body.name,
            "short_name": hall.body.short_name,
            "members": hall.body.members,
            "language": hall.language.value,
            "delegates": [
                {
                    "id": d.id,
                    "name": d.name,
                    "group": d.group,
                    "role": d.role.value,
                    "title": d.title,
                    "voting": d.voting,
                }
                for d in hall.delegates
            ],
            "seats": [
                {
                    "number": s.number,
                    "row": s.row,
                    "col": s.col,
                    "delegate": s.delegate,
                    "mic_class": s.mic_class.value,
                }
                for s in hall.seats
            ],
        }

    @route(api, "GET", "/seats", ALL_ROLES, "Every seat: its delegate, presence and microphone")
    async def get_seats() -> list[dict[str, Any]]:
        hall = runtime.config.hall
        names = {d.id: d.name for d in hall.delegates}
        view = runtime.hub.view(Audience.OBSERVER)
        live = {speaker["seat"] for speaker in view["floor"].get("live", [])}
        present = set(view["attendance"].get("present_seats", []))
        return [
            {
                "number": s.number,
                "row": s.row,
                "col": s.col,
                "delegate": s.delegate,
                "name": names.get(s.delegate or "", ""),
                "mic_class": s.mic_class.value,
                "present": s.number in present,
                "mic_live": s.number in live,
            }
            for s in hall.seats
        ]

    @route(api, "GET", "/results", ALL_ROLES, "Results of the sitting's closed votes")
    async def get_results(request: Request) -> list[dict[str, Any]]:
        return results(runtime.hub.view(audience(request)))

    @route(api, "GET", "/participation", CHAIR_SECRETARY, "Each delegate's participation record")
    async def get_participation(sitting_id: str | None = None) -> list[dict[str, Any]]:
        records = runtime.core.participation(sitting_id)
        return [record.to_json() for record in records.values()]

    @route(api, "GET", "/health", STAFF, "Every line and unit with its health")
    async def get_health() -> dict[str, Any]:
        return dict(runtime.health_snapshot())

    # --- sitting and attendance ----------------------------------------------------------------

    @route(api, "POST", "/sitting/open", CHAIR_SECRETARY, "Open a sitting with its agenda")
    async def open_sitting(body: OpenSittingIn) -> Accepted:
        agenda = tuple(I.AgendaItemSpec(a.id, a.title) for a in body.agenda)
        return await run(lambda at: I.OpenSitting(at, body.sitting_id, body.title, agenda))

    @route(api, "POST", "/sitting/close", CHAIR, "Close the sitting")
    async def close_sitting() -> Accepted:
        return await run(lambda at: I.CloseSitting(at))

    @route(api, "POST", "/agenda/{item_id}/current", CHAIR_SECRETARY, "Make an item current")
    async def set_item(item_id: str) -> Accepted:
        return await run(lambda at: I.SetCurrentItem(at, item_id))

    @route(api, "POST", "/attendance/open", CHAIR, "Open an attendance registration")
    async def open_attendance() -> Accepted:
        return await run(lambda at: I.OpenAttendance(at))

    @route(api, "POST", "/attendance/close", CHAIR, "Close the attendance registration")
    async def close_attendance() -> Accepted:
        return await run(lambda at: I.CloseAttendance(at))

    @route(api, "POST", "/seats/{seat}/presence", CHAIR_SECRETARY, "Mark a seat present/absent")
    async def set_presence(seat: int, body: PresenceIn) -> Accepted:
        return await run(lambda at: I.SetPresence(at, seat, body.present))

    # --- votes --------------------------------------------------------------------------------

    @route(api, "POST", "/votes", CHAIR_SECRETARY, "Prepare a vote (its id is returned)")
    async def create_vote(body: CreateVoteIn) -> VoteCreated:
        if body.vote_id is not None:
            return await create(body, body.vote_id)
        candidates = vote_ids(runtime.hub.view(Audience.CHAIR))
        for _ in range(VOTE_ID_TRIES - 1):
            try:
                return await create(body, next(candidates))
            except CommandRejected as exc:
                # Taken in an earlier sitting: try the next; any other refusal is the answer.
                if exc.code != "conflict" or not exc.message.endswith("already exists"):
                    raise
        return await create(body, next(candidates))

    async def create(body: CreateVoteIn, vote_id: str) -> VoteCreated:
        accepted = await run(
            lambda at: I.CreateVote(
                at,
                vote_id,
                body.title,
                body.answers,
                tuple(body.choices),
                body.mode,
                body.rule,
                body.duration_s,
                body.warning_s,
                body.change_until_close,
                body.quorum_required,
                body.weighted,
                body.item_id,
            )
        )
        return VoteCreated(seq=accepted.seq, vote_id=vote_id)

    vote_steps: dict[str, Callable[[float, str], I.Input]] = {
        "open": lambda at, v: I.OpenVote(at, v),
        "hold": lambda at, v: I.HoldVote(at, v),
        "resume": lambda at, v: I.ResumeVote(at, v),
        "close": lambda at, v: I.CloseVote(at, v),
        "cancel": lambda at, v: I.CancelVote(at, v),
        "publish": lambda at, v: I.PublishVote(at, v),
    }
    for step, make in vote_steps.items():
        _vote_step(api, route, run, step, make)

    # --- the floor ------------------------------------------------------------------------------

    @route(api, "POST", "/floor/register", CHAIR_SECRETARY, "Put a seat on a speakers' list")
    async def register(body: SeatListIn) -> Accepted:
        return await run(lambda at: I.RegisterSpeaker(at, body.seat, body.list))

    @route(api, "POST", "/floor/grant", CHAIR, "Give the floor to a seat")
    async def grant(body: GrantIn) -> Accepted:
        return await run(lambda at: I.GrantFloor(at, body.seat, body.list))

    @route(api, "POST", "/floor/next", CHAIR, "Give the floor to the next one waiting")
    async def grant_next(body: NextIn) -> Accepted:
        return await run(lambda at: I.GrantNext(at, body.list))

    @route(api, "POST", "/floor/revoke", CHAIR, "Take the floor or a request away")
    async def revoke(body: RevokeIn) -> Accepted:
        return await run(lambda at: I.RevokeFloor(at, body.seat))

    @route(api, "POST", "/floor/priority", CHAIR, "Chair priority: hold or release")
    async def priority(body: PriorityIn) -> Accepted:
        return await run(lambda at: I.ApiChairPriority(at, body.held))

    @route(api, "POST", "/floor/mode", CHAIR_SECRETARY, "Set the microphone mode and cap")
    async def mode(body: ModeIn) -> Accepted:
        return await run(lambda at: I.SetMicMode(at, body.mode, body.max_open))

    @route(api, "POST", "/floor/time", CHAIR_SECRETARY, "Set the speaking time of a list")
    async def speaking_time(body: TimeIn) -> Accepted:
        return await run(lambda at: I.SetSpeakingTime(at, body.list, body.seconds))

    @route(api, "POST", "/floor/extend", CHAIR, "Give a current speaker more time")
    async def extend(body: ExtendIn) -> Accepted:
        return await run(lambda at: I.ExtendSpeakingTime(at, body.seat, body.seconds))

    @route(api, "POST", "/seats/{seat}/mic", TECH, "Force a seat's microphone on or off")
    async def mic_override(seat: int, body: MicIn) -> Accepted:
        return await run(lambda at: I.MicOverride(at, seat, body.on))

    # --- exports and signed results ------------------------------------------------------------

    async def journal_view() -> JournalView:
        # Replayed from the journal itself (a read-only connection, off the event loop), so an
        # export shows exactly what is recorded and never waits on, or delays, the core.
        try:
            return await asyncio.to_thread(replay_journal, runtime.journal.path, runtime.config)
        except ExportError as exc:
            raise Problem(500, "Journal unreadable", str(exc)) from exc

    async def export(
        what: What, fmt: Format, sitting: str | None, lang: Language | None, filename: str
    ) -> Response:
        view = await journal_view()
        try:
            text = render(view, what, fmt, sitting_id=sitting, language=lang)
        except ExportError as exc:
            raise Problem(404, "Not found", str(exc)) from exc
        return Response(
            text.encode("utf-8"),
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @route(api, "GET", "/exports/results.csv", CHAIR_SECRETARY, "Results as CSV (Excel-ready)")
    async def export_results_csv(sitting: Sitting = None) -> Response:
        return await export(What.RESULTS, Format.CSV, sitting, None, "results.csv")

    @route(api, "GET", "/exports/results.json", CHAIR_SECRETARY, "Results as JSON")
    async def export_results_json(sitting: Sitting = None) -> Response:
        return await export(What.RESULTS, Format.JSON, sitting, None, "results.json")

    @route(
        api,
        "GET",
        "/exports/participation.csv",
        CHAIR_SECRETARY,
        "Participation record of a sitting as CSV",
    )
    async def export_participation_csv(sitting: Sitting = None) -> Response:
        return await export(What.PARTICIPATION, Format.CSV, sitting, None, "participation.csv")

    @route(
        api,
        "GET",
        "/exports/participation.json",
        CHAIR_SECRETARY,
        "Participation record of a sitting as JSON",
    )
    async def export_participation_json(sitting: Sitting = None) -> Response:
        return await export(What.PARTICIPATION, Format.JSON, sitting, None, "participation.json")

    @route(api, "GET", "/exports/minutes.html", CHAIR_SECRETARY, "Printable minutes (HTML)")
    async def export_minutes(sitting: Sitting = None, lang: Lang = None) -> Response:
        return await export(What.MINUTES, Format.HTML, sitting, lang, "minutes.html")

    @route(
        api,
        "GET",
        "/votes/{vote_id}/signed-result",
        CHAIR_SECRETARY,
        "A closed vote's result, signed with the hall's key",
    )
    async def signed_vote_result(vote_id: str) -> Response:
        view = await journal_view()
        data_dir = runtime.journal.path.parent
        try:
            key = await asyncio.to_thread(HallKey.load_or_create, data_dir)
            text = signed_result(view, vote_id, key)
        except ExportError as exc:
            raise Problem(404, "Not found", str(exc)) from exc
        except SigningError as exc:
            log.error("signing key unusable", extra={"event": "signing-key", "reason": str(exc)})
            raise Problem(
                500, "Signing key unusable", "the hall's signing key cannot be used"
            ) from None
        return Response(
            text.encode("utf-8"),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="result-{vote_id}.json"'},
        )

    app.include_router(api)

    # --- the live stream -------------------------------------------------------------------------

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
        served = audience_for(principal.role.value, view)
        if served is None:
            await ws.close(code=4403, reason=f"role {principal.role.value} may not see {view}")
            return
        sub = runtime.hub.subscribe(since, stream=stream_id, audience=served)
        receiver = asyncio.ensure_future(_drain(ws))
        try:
            while True:
                getter = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    getter.cancel()
                    break
                await ws.send_json(getter.result().to_json())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            sub.close()
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver

    if static_dir is not None:
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")

    return app


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so that a disconnect is noticed."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


def _vote_step(
    api: APIRouter,
    route: Callable[..., Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]],
    run: Callable[[Callable[[float], I.Input]], Awaitable[Accepted]],
    step: str,
    make: Callable[[float, str], I.Input],
) -> None:
    roles = CHAIR_SECRETARY if step == "publish" else CHAIR

    async def handler(vote_id: str) -> Accepted:
        return await run(lambda at: make(at, vote_id))

    handler.__name__ = f"vote_{step}"
    route(api, "POST", f"/votes/{{vote_id}}/{step}", roles, f"{step.capitalize()} a vote")(handler)
