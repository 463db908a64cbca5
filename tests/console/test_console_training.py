"""A training hall (`[hall] training = true`, what `chamber training` runs) is marked on the
console's second line in both languages, so that nobody takes it for a real sitting; a real
hall's console shows no such mark."""

from __future__ import annotations

import tomllib

import pytest

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient
from chamber.controller.config import HallConfig, parse_config
from tests.console.conftest import VN_COUNCIL, Hall, panel_text, until_shown

FROZEN = 1000.0
MARK = "ĐÀO TẠO / TRAINING"


def frozen() -> float:
    return FROZEN


@pytest.fixture(params=[True, False], ids=["training", "real"])
def vn_config(request: pytest.FixtureRequest) -> HallConfig:
    data = tomllib.loads(VN_COUNCIL.read_text(encoding="utf-8"))
    if request.param:
        data["hall"]["training"] = True
    return parse_config(data, str(VN_COUNCIL))


async def test_a_training_hall_says_so_on_the_console_and_a_real_one_does_not(
    hall: Hall,
) -> None:
    training = hall.config.training
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(130, 44)):
        await until_shown(app, "#sitting", "Chưa khai mạc kỳ họp")
        await hall.open_sitting()
        shown = await until_shown(app, "#sitting", "Kỳ họp thứ 12")
        assert (MARK in shown) is training, shown
        assert ("không phải kỳ họp thật" in shown) is training
        assert app.query_one("#sitting").has_class("training") is training
        assert (MARK in panel_text(app, "#sitting")) is training
