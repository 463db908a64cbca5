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

One module per resource (`queries`, `sitting`, `votes`, `floor`, `exports`, `stream`); what
they share (problems, tokens and roles, the guard in front of /api/, the routes' `Context`) is
in `deps`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chamber.controller.api import exports, floor, queries, sitting, stream, technician, votes
from chamber.controller.api.deps import (
    MAX_BODY,
    STATUS_OF_CODE,
    ApiGuard,
    BodyTooLarge,
    Context,
    GuardStats,
    Problem,
    log,
    problem_response,
)
from chamber.controller.api.votes import vote_ids
from chamber.controller.auth import TokenStore
from chamber.controller.core.errors import CommandRejected
from chamber.controller.runtime import Runtime

__all__ = ["MAX_BODY", "GuardStats", "create_app", "vote_ids"]


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

    ctx = Context(runtime, tokens)
    for resource in (queries, sitting, votes, floor, exports, technician):
        resource.register(ctx)
    app.include_router(ctx.api)
    stream.register(app, runtime, tokens)

    if static_dir is not None:
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")

    return app
