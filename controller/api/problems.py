"""The API's refusals as RFC 9457 problems, each with a stable `code` and its `params`.

`install_problems(app)` puts the exception handlers on the application: a command the meeting core
refuses (`CommandRejected`), a refusal of the API itself (`Problem`), an invalid request
(pydantic's errors, mapped one by one to codes), an unknown route or method, and an internal
error. Every answer carries `code`, `params` and a `detail` worded in the language the request
asks for (`Accept-Language`: vi or en), else in the hall's.

`GET /api/refusals` serves the catalogue itself (every code, its status and parameters, its
sentence in both languages, and the words of the word-typed parameters), so that a client
renders a refusal in its own language from `code` and `params`. The OpenAPI document names the
same table (`x-refusals`) and the problem's schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chamber.controller.api.deps import (
    BodyTooLarge,
    Context,
    Problem,
    log,
    refusal_response,
    request_language,
)
from chamber.controller.auth import ALL_ROLES
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import PARAM_WORDS, REFUSAL_TEXTS
from chamber.controller.core.model import Language
from chamber.controller.core.refusals import REFUSALS, UNKNOWN

# The catalogue's shape, for a client that checks it can read it.
CATALOGUE_VERSION = 1

# What a request field should hold, by pydantic's error type.
_EXPECTED: Mapping[str, str] = {
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "float_parsing": "number",
    "finite_number": "number",
    "string_type": "text",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "model_type": "object",
    "model_attributes_type": "object",
    "dict_type": "object",
    "list_type": "list",
    "tuple_type": "list",
}


def _field(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p != "body"]
    return ".".join(parts) or "body"


def validation_refusal(error: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """One of pydantic's errors as a refusal code and its parameters."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    field = _field(error.get("loc"))
    if kind == "missing":
        return "request.field_missing", {"field": field}
    if kind == "extra_forbidden":
        return "request.field_unknown", {"field": field}
    if kind == "json_invalid":
        return "request.body_not_json", {}
    if kind in _EXPECTED:
        return "request.field_type", {"field": field, "expected": _EXPECTED[kind]}
    if kind in ("string_too_long", "too_long") and "max_length" in ctx:
        return "request.field_too_long", {"field": field, "max": int(ctx["max_length"])}
    if kind in ("string_too_short", "too_short") and "min_length" in ctx:
        return "request.field_too_short", {"field": field, "min": int(ctx["min_length"])}
    bounds = {
        "greater_than_equal": ("request.field_at_least", "ge"),
        "greater_than": ("request.field_above", "gt"),
        "less_than_equal": ("request.field_at_most", "le"),
        "less_than": ("request.field_below", "lt"),
    }
    if kind in bounds and bounds[kind][1] in ctx:
        code, key = bounds[kind]
        return code, {"field": field, "limit": str(ctx[key])}
    if kind == "string_pattern_mismatch" and "pattern" in ctx:
        return "request.field_pattern", {"field": field, "pattern": str(ctx["pattern"])}
    if kind in ("enum", "literal_error") and "expected" in ctx:
        return "request.field_choice", {"field": field, "expected": str(ctx["expected"])}
    return "request.field_invalid", {"field": field, "message": str(error.get("msg", ""))}


def catalogue() -> dict[str, Any]:
    """Every refusal code: its status, parameters (name -> type) and sentence per language;
    and the words a word-typed parameter stands for."""
    languages = [lang.value for lang in Language]
    return {
        "version": CATALOGUE_VERSION,
        "languages": languages,
        "unknown": UNKNOWN,
        "codes": {
            code: {
                "status": spec.status,
                "params": {name: kind.value for name, kind in spec.params.items()},
                "text": {lang.value: REFUSAL_TEXTS[lang].get(code, "") for lang in Language},
            }
            for code, spec in sorted(REFUSALS.items())
        },
        "words": {
            kind.value: {lang.value: dict(PARAM_WORDS[lang].get(kind, {})) for lang in Language}
            for kind in sorted({k for lang in Language for k in PARAM_WORDS[lang]})
        },
    }


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "An RFC 9457 problem. `code` is stable (see `x-refusals` and GET /api/refusals); "
        "`detail` is worded in the language Accept-Language asks for (vi or en), else in the "
        "hall's."
    ),
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "params": {"type": "object"},
    },
    "required": ["type", "title", "status", "detail"],
}


def install_problems(app: FastAPI) -> None:
    """The exception handlers, the catalogue's route and the OpenAPI additions of `app`."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return refusal_response(request_language(request), exc.code, exc.params, status=exc.status)

    @app.exception_handler(CommandRejected)
    async def _rejected(request: Request, exc: CommandRejected) -> JSONResponse:
        return refusal_response(request_language(request), exc.code, exc.params, status=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors()) or [{"loc": (), "msg": "invalid request", "type": ""}]
        found = [validation_refusal(e) for e in raw]
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "message": str(e.get("msg", "")),
                "code": code,
                "params": params,
            }
            for e, (code, params) in zip(raw, found, strict=True)
        ]
        code, params = found[0]
        return refusal_response(request_language(request), code, params, status=422, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        language = request_language(request)
        if isinstance(exc, BodyTooLarge):
            return refusal_response(language, "request.too_large", {"max_bytes": exc.max_body})
        if exc.status_code == 404:
            return refusal_response(language, "http.not_found", {"path": request.url.path})
        if exc.status_code == 405:
            return refusal_response(language, "http.method_not_allowed", {"method": request.method})
        params = {"status": exc.status_code, "message": str(exc.detail)}
        return refusal_response(language, "http.error", params, status=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("API error", extra={"event": "api-error"})
        return refusal_response(
            request_language(request), "internal.error", {"error": type(exc).__name__}
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            schema["x-refusals"] = catalogue()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def register_refusals(ctx: Context) -> None:
    """GET /api/refusals: the catalogue, for every role."""

    @ctx.route(ctx.api, "GET", "/refusals", ALL_ROLES, "Every refusal code and its sentences")
    async def refusals() -> dict[str, Any]:
        return catalogue()


# --- the table in docs/refusals.md -------------------------------------------------------------

DOC_BEGIN = "<!-- refusals:begin (python -m chamber.controller.api.refusals_doc FILE) -->"
DOC_END = "<!-- refusals:end -->"


def refusals_markdown() -> str:
    """The table of every refusal code: code, status, parameters, Vietnamese, English."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        "| code | status | parameters | Tiếng Việt | English |",
        "|---|---|---|---|---|",
    ]
    for code, spec in sorted(REFUSALS.items()):
        params = ", ".join(f"`{name}` ({kind.value})" for name, kind in spec.params.items())
        rows.append(
            f"| `{code}` | {spec.status} | {params or '—'} | "
            f"{cell(REFUSAL_TEXTS[Language.VI][code])} | {cell(REFUSAL_TEXTS[Language.EN][code])} |"
        )
    return "\n".join(rows) + "\n"


def write_doc(path: str) -> None:
    """Put the table between the markers of the document at `path`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{DOC_BEGIN}\n{refusals_markdown()}{DOC_END}{tail}")
