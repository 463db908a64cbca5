"""The daemon's HTTP API: chair, secretary and technician commands, queries, and the live stream.

Built around a running `Runtime` (never a module global): `create_app(runtime, tokens)`.
Every route declares the roles it allows (`x-roles` in the OpenAPI document); a request without
a valid token gets 401, a role not allowed gets 403. Errors are RFC 9457
`application/problem+json` with a stable `code` and its `params` (`problems`): a command the
meeting core refuses gets 404/409/422, e.g. 409 `vote.wrong_state` {"vote": "v12", "state":
"closed", "command": "open"}, its `detail` worded in the language Accept-Language asks for (vi or
en), else in the hall's. GET /api/refusals serves the whole catalogue, for clients that word a
refusal themselves.

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

from fastapi import FastAPI

from chamber.controller import metrics
from chamber.controller.api import (
    exports,
    floor,
    prepared,
    queries,
    report,
    sitting,
    stream,
    technician,
    votes,
)
from chamber.controller.api.deps import MAX_BODY, ApiGuard, Context, GuardStats
from chamber.controller.api.problems import install_problems, register_refusals
from chamber.controller.api.votes import vote_ids
from chamber.controller.auth import TokenStore
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
    app.add_middleware(
        ApiGuard,
        tokens=tokens,
        stats=app.state.guard_stats,
        language=runtime.config.hall.language,
    )
    install_problems(app)

    ctx = Context(runtime, tokens)
    for resource in (queries, sitting, prepared, votes, floor, exports, report, technician):
        resource.register(ctx)
    register_refusals(ctx)
    app.include_router(ctx.api)
    app.state.commissioning = ctx.commissioning
    stream.register(app, runtime, tokens)
    app.state.metrics = metrics.install(app, runtime, tokens)

    if static_dir is not None:
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")

    return app
