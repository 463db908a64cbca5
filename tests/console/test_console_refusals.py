"""The console words the daemon's refusals in its own language, from their code and parameters.

Against a real daemon: the client fetches the daemon's catalogue with the hall, a refused
command raises `ApiError` with the refusal's code and parameters, and the console's command
line shows the sentence in the hall's language. A code the catalogue does not hold reads as a
generic sentence with the code.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx
import pytest

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient, ApiError, Link, _body
from chamber.console.i18n import Lang
from chamber.console.refusals import Catalogue
from chamber.console.status import CommandLine, CommandState
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.model import Language
from chamber.controller.daemon import Daemon
from tests.console.conftest import Hall, panel_text, until_drawn


async def _connected(client: ApiClient) -> None:
    client.start()
    async with asyncio.timeout(20):
        await client.wait_for(lambda c: c.link is Link.CONNECTED and c.mirror.ready)


async def test_a_refusal_carries_its_code_and_reads_in_both_languages(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.chair)
    try:
        await _connected(client)
        assert client.refusals.knows("vote.not_found")
        with pytest.raises(ApiError) as refused:
            await client.vote_step("v9", "open")
        error = refused.value
        assert (error.status, error.code, error.params) == (404, "vote.not_found", {"vote": "v9"})
        assert error.text(Lang.VI) == "Không có biểu quyết v9 trong kỳ họp này."
        assert error.text(Lang.EN) == "no vote v9 in this sitting"
        await hall.open_sitting()
        with pytest.raises(ApiError) as refused:
            await client.grant(999)
        assert refused.value.code == "seat.not_found"
        assert refused.value.text(Lang.VI) == "Không có ghế số 999."
    finally:
        await client.close()


async def test_a_technician_refused_reads_the_roles_in_vietnamese(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.technician)
    try:
        await _connected(client)
        with pytest.raises(ApiError) as refused:
            await client.create_vote("Nghị quyết")
        assert refused.value.code == "auth.role_forbidden"
        assert refused.value.text(Lang.VI) == (
            "Vai trò kỹ thuật viên không được làm việc này (được phép: chủ tọa, thư ký)."
        )
    finally:
        await client.close()


def test_a_code_from_a_newer_daemon_is_a_generic_sentence_with_the_code() -> None:
    response = httpx.Response(
        409,
        json={"status": 409, "title": "Conflict", "code": "vote.too_new", "params": {"x": 1}},
        request=httpx.Request("POST", "http://hall/api/votes/v1/open"),
    )
    with pytest.raises(ApiError) as refused:
        _body(response, Catalogue())
    assert refused.value.text(Lang.VI) == "Bộ điều khiển từ chối lệnh (mã vote.too_new)."
    assert refused.value.text(Lang.EN) == "The controller refused the command (code vote.too_new)."
    # An answer that is no refusal of a catalogue (an old daemon, a proxy): its own words.
    plain = httpx.Response(
        502, text="Bad gateway", request=httpx.Request("GET", "http://hall/api/state")
    )
    with pytest.raises(ApiError) as refused:
        _body(plain)
    assert refused.value.code is None
    assert refused.value.text(Lang.VI) == "Bộ điều khiển trả lời lỗi HTTP 502: Bad gateway"
    assert refused.value.text(Lang.EN) == "the daemon answered HTTP 502: Bad gateway"
    # The console's own: an answer that does not fit.
    odd = httpx.Response(200, text="<html>", request=httpx.Request("GET", "http://hall/api/hall"))
    with pytest.raises(ApiError) as refused:
        _body(odd)
    assert refused.value.text(Lang.VI) == "Bộ điều khiển không trả lời bằng JSON."


async def test_the_command_line_shows_the_refusal_in_the_halls_language(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 41))
    async with hall.http() as http:
        assert (await http.post("/api/floor/grant", json={"seat": 7})).is_success
    client = ApiClient(hall.url, hall.chair)
    app = ChamberConsole(client)
    async with app.run_test(size=(120, 40)) as pilot:
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.ready and c.mirror.floor().live_seats == {7})
        line = app.query_one(CommandLine)
        # Give seat 7 the floor again: the daemon refuses, the console words it.
        await pilot.press("g")
        await pilot.pause()
        await pilot.press("backspace", "backspace", "7", "enter")
        await until_drawn(app, lambda: line.history[-1].state is CommandState.REFUSED, "refusal")
        assert line.history[-1].detail == "Đại biểu ở ghế số 7 đang phát biểu."
        shown = " ".join(panel_text(app, "#command").split())
        assert "Đại biểu ở ghế số 7 đang phát biểu." in shown
    await client.close()


async def test_an_english_hall_reads_its_refusals_in_english(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    config = dataclasses.replace(
        vn_config, hall=dataclasses.replace(vn_config.hall, language=Language.EN)
    )
    tokens = TokenStore()
    chair = tokens.add("chair", Role.CHAIR)
    async with Daemon(config, tmp_path / "j", tokens, port=0, clock=FakeClock()) as daemon:
        async with httpx.AsyncClient(
            base_url=daemon.url, headers={"Authorization": f"Bearer {chair}"}
        ) as http:
            opened = await http.post(
                "/api/sitting/open",
                json={
                    "sitting_id": "s1",
                    "title": "Sitting",
                    "agenda": [{"id": "1", "title": "A"}],
                },
            )
            assert opened.is_success, opened.text
            assert (await http.post("/api/floor/grant", json={"seat": 7})).is_success
            # No Accept-Language: the hall's language.
            again = await http.post("/api/floor/grant", json={"seat": 7})
            assert again.json()["detail"] == "seat 7 already has the floor"
            assert again.headers["content-language"] == "en"
        client = ApiClient(daemon.url, chair)
        app = ChamberConsole(client)
        async with app.run_test(size=(120, 40)) as pilot:
            async with asyncio.timeout(20):
                await client.wait_for(
                    lambda c: c.mirror.ready and c.mirror.floor().live_seats == {7}
                )
            await until_drawn(app, lambda: app.lang is Lang.EN, "the hall's language")
            line = app.query_one(CommandLine)
            await pilot.press("g")
            await pilot.pause()
            await pilot.press("backspace", "backspace", "7", "enter")
            await until_drawn(
                app, lambda: line.history[-1].state is CommandState.REFUSED, "refusal"
            )
            assert line.history[-1].detail == "seat 7 already has the floor"
        await client.close()
