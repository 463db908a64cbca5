"""Refusals through a whole hall (`tests/rig.py`: the simulator on its real transports and the
daemon on it): a sample of the chair's commands the hall refuses comes back with its code, its
parameters and its Vietnamese sentence; the same in English when asked for; and the console's
client words them from the daemon's catalogue in either language."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chamber.console.client import ApiClient, ApiError
from chamber.console.i18n import Lang
from chamber.controller.core.i18n import refusal_text
from chamber.controller.core.model import Language
from chamber.controller.core.refusals import REFUSALS, misfits
from tests.e2e.conftest import Council
from tests.e2e.hall import create_and_open, post


async def refused(
    client: httpx.AsyncClient, path: str, body: Any, code: str, language: Language = Language.VI
) -> dict[str, Any]:
    headers = {"Accept-Language": "en"} if language is Language.EN else {}
    response = await client.post(path, json=body, headers=headers)
    problem: dict[str, Any] = response.json()
    assert response.status_code == REFUSALS[code].status, problem
    assert problem["code"] == code, problem
    assert not misfits(code, problem["params"]), problem
    assert problem["detail"] == refusal_text(language, code, problem["params"]), problem
    assert response.headers["content-language"] == language.value
    return problem


async def test_the_halls_refusals_read_in_vietnamese(hall: Council) -> None:
    chair = hall.chair
    await create_and_open(chair, "v1", "Nghị quyết về ngân sách tỉnh")
    again = await refused(chair, "/api/votes/v1/open", None, "vote.wrong_state")
    assert again["params"] == {"vote": "v1", "state": "open", "command": "open"}
    assert again["detail"] == (
        "Không thể mở biểu quyết v1: biểu quyết đang ở trạng thái “đang biểu quyết”."
    )
    closing = await refused(chair, "/api/sitting/close", None, "vote.active")
    assert closing["detail"] == "Biểu quyết v1 đang ở trạng thái “đang biểu quyết”."
    second = await refused(
        chair, "/api/votes", {"vote_id": "v1", "title": "Lần nữa"}, "vote.exists"
    )
    assert second["detail"] == "Đã có biểu quyết v1."
    await post(chair, "/api/votes/v1/close")
    english = await refused(chair, "/api/votes/v1/hold", None, "vote.wrong_state", Language.EN)
    assert english["detail"] == "vote v1 is closed: cannot hold it"
    seat = await refused(chair, "/api/floor/grant", {"seat": 999}, "seat.not_found")
    assert seat["detail"] == "Không có ghế số 999."

    client = ApiClient(hall.rig.url, hall.rig.tokens.chair)
    try:
        await client._load_refusals()
        with pytest.raises(ApiError) as resumed:
            await client.vote_step("v1", "resume")
        assert resumed.value.code == "vote.wrong_state"
        assert resumed.value.text(Lang.VI) == (
            "Không thể tiếp tục biểu quyết v1: biểu quyết đang ở trạng thái “đã kết thúc”."
        )
        assert resumed.value.text(Lang.EN) == "vote v1 is closed: cannot resume it"
    finally:
        await client.close()
