"""Exports of the journal (results, participation, minutes) and signed results."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from chamber.controller.api.deps import (
    CHAIR_SECRETARY,
    Context,
    Problem,
    log,
)
from chamber.controller.core.model import Language
from chamber.controller.exports import (
    MEDIA_TYPES,
    ExportError,
    Format,
    JournalView,
    Seal,
    What,
    render_bytes,
    replay_journal,
)
from chamber.controller.signing import HallKey, SigningError, minutes_seal, signed_result

# Query parameters of the exports (module level: FastAPI resolves the annotations by name).
Sitting = Annotated[str | None, Query(max_length=64, description="a sitting's id")]
Lang = Annotated[
    Language | None, Query(description="language of the minutes or of the CSV headers")
]


def register(ctx: Context) -> None:
    runtime = ctx.runtime
    route = ctx.route
    api = ctx.api

    async def journal_view() -> JournalView:
        # Replayed from the journal itself (a read-only connection, off the event loop), so an
        # export shows exactly what is recorded and never waits on, or delays, the core.
        try:
            return await asyncio.to_thread(replay_journal, runtime.journal.path, runtime.config)
        except ExportError as exc:
            raise Problem("journal.unreadable", reason=str(exc)) from exc

    def hall_key() -> HallKey:
        try:
            return HallKey.load_or_create(runtime.journal.path.parent)
        except SigningError as exc:
            log.error("signing key unusable", extra={"event": "signing-key", "reason": str(exc)})
            raise Problem("signing.key_unusable") from None

    async def export(
        what: What, fmt: Format, sitting: str | None, lang: Language | None, filename: str
    ) -> Response:
        view = await journal_view()
        seal: Seal | None = None
        if what is What.MINUTES:
            # The minutes' appendix carries the hall key's signature over the journal's head.
            key = await asyncio.to_thread(hall_key)
            seal = minutes_seal(view, key)
        try:
            # A PDF is printed by Chromium in a process of its own: off the event loop.
            data = await asyncio.to_thread(
                render_bytes, view, what, fmt, sitting_id=sitting, language=lang, seal=seal
            )
        except ExportError as exc:
            raise Problem(exc.code, **exc.params) from exc
        return Response(
            data,
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @route(api, "GET", "/exports/results.csv", CHAIR_SECRETARY, "Results as CSV (Excel-ready)")
    async def export_results_csv(sitting: Sitting = None, lang: Lang = None) -> Response:
        return await export(What.RESULTS, Format.CSV, sitting, lang, "results.csv")

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
    async def export_participation_csv(sitting: Sitting = None, lang: Lang = None) -> Response:
        return await export(What.PARTICIPATION, Format.CSV, sitting, lang, "participation.csv")

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

    @route(api, "GET", "/exports/minutes.pdf", CHAIR_SECRETARY, "Printable minutes (PDF, A4)")
    async def export_minutes_pdf(sitting: Sitting = None, lang: Lang = None) -> Response:
        return await export(What.MINUTES, Format.PDF, sitting, lang, "minutes.pdf")

    @route(
        api,
        "GET",
        "/votes/{vote_id}/signed-result",
        CHAIR_SECRETARY,
        "A closed vote's result, signed with the hall's key",
    )
    async def signed_vote_result(vote_id: str) -> Response:
        view = await journal_view()
        key = await asyncio.to_thread(hall_key)
        try:
            text = signed_result(view, vote_id, key)
        except ExportError as exc:
            raise Problem(exc.code, **exc.params) from exc
        return Response(
            text.encode("utf-8"),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="result-{vote_id}.json"'},
        )
