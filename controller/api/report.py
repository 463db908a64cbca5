"""The term report for the secretary: each delegate's record across the term, as a printable
page (and as CSV), from every journal in the daemon's data directory (`controller.report`)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from chamber.controller.api.deps import CHAIR_SECRETARY, Context, Problem
from chamber.controller.core.model import Language
from chamber.controller.report import (
    Format,
    ReportError,
    Sort,
    TermReport,
    collect,
    render,
    today,
)

Lang = Annotated[Language | None, Query(description="language of the report (default: vi)")]
Delegation = Annotated[str | None, Query(max_length=200, description="only this delegation")]
Delegate = Annotated[str | None, Query(max_length=64, description="one delegate's record")]
Ranked = Annotated[Sort, Query(description="how the delegates are ranked")]
Day = Annotated[date | None, Query(description="a day, YYYY-MM-DD")]


def register(ctx: Context) -> None:
    runtime = ctx.runtime
    route = ctx.route
    api = ctx.api

    async def term_report(since: date | None, until: date | None) -> TermReport:
        # Every journal of the data directory: the live one, and those rotated or restored
        # beside it. Read-only, off the event loop.
        data_dir = runtime.journal.path.parent
        try:
            return await asyncio.to_thread(
                collect, [data_dir], runtime.config, since=since, until=until
            )
        except ReportError as exc:
            raise Problem("export.failed", reason=str(exc)) from exc

    async def answer(
        fmt: Format,
        lang: Language | None,
        delegation: str | None,
        delegate: str | None,
        sort: Sort,
        since: date | None,
        until: date | None,
    ) -> Response:
        report = await term_report(since, until)
        try:
            text = render(
                report,
                fmt,
                lang or Language.VI,
                delegation=delegation,
                delegate=delegate,
                sort=sort,
                issued=today(runtime.config),
            )
        except ReportError as exc:
            raise Problem("export.failed", reason=str(exc)) from exc
        if fmt is Format.CSV:
            return Response(
                text.encode("utf-8"),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="term-report.csv"'},
            )
        return Response(text.encode("utf-8"), media_type="text/html; charset=utf-8")

    @route(
        api,
        "GET",
        "/report/term.html",
        CHAIR_SECRETARY,
        "Each delegate's record across the term: a printable page",
    )
    async def term_html(
        lang: Lang = None,
        delegation: Delegation = None,
        delegate: Delegate = None,
        sort: Ranked = Sort.ORDER,
        since: Day = None,
        until: Day = None,
    ) -> Response:
        return await answer(Format.HTML, lang, delegation, delegate, sort, since, until)

    @route(
        api,
        "GET",
        "/report/term.csv",
        CHAIR_SECRETARY,
        "Each delegate's record across the term as CSV (Excel-ready)",
    )
    async def term_csv(
        lang: Lang = None,
        delegation: Delegation = None,
        delegate: Delegate = None,
        sort: Ranked = Sort.ORDER,
        since: Day = None,
        until: Day = None,
    ) -> Response:
        return await answer(Format.CSV, lang, delegation, delegate, sort, since, until)
