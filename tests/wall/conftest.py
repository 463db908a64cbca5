"""Headless Chromium (Debian's, driven by playwright) for the wall's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.wall.hall import CHROMIUM, CHROMIUM_ARGS, WALL_SIZE, PageErrors


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def wall_page(browser: Browser) -> AsyncIterator[tuple[Page, PageErrors]]:
    """A 1920x1080 page that records every script error and failed request."""
    context = await browser.new_context(viewport=WALL_SIZE)
    page = await context.new_page()
    seen = PageErrors()
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: seen.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.on(
        "requestfailed", lambda req: seen.errors.append(f"request failed: {req.url} {req.failure}")
    )
    try:
        yield page, seen
    finally:
        await context.close()
