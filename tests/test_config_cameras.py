"""The hall file's `[[cameras]]`: what it builds, and what it refuses with one message."""

from __future__ import annotations

import pytest

from chamber.controller.config import ConfigError, parse_config
from chamber.controller.core.cameras import CameraSpec, CameraTransport
from tests.test_config import _minimal


def test_cameras_build_their_specs() -> None:
    cfg = parse_config(
        _minimal(
            cameras=[
                {
                    "id": "cam1",
                    "host": "192.168.10.51",
                    "chair_preset": 1,
                    "overview_preset": 0,
                    "seats": {"1": 11, "2": 12},
                },
                {"id": "cam2", "host": "192.168.10.52", "port": 1259, "transport": "visca-udp"},
            ]
        )
    )
    assert cfg.cameras == (
        CameraSpec("cam1", "192.168.10.51", 52381, CameraTransport.VISCA_IP, 1, 0, {1: 11, 2: 12}),
        CameraSpec("cam2", "192.168.10.52", 1259, CameraTransport.VISCA_UDP),
    )
    assert parse_config(_minimal()).cameras == ()


@pytest.mark.parametrize(
    ("cameras", "message"),
    [
        ([{"id": "cam1", "host": "h", "seats": {"9": 3}}], "no seat 9"),
        ([{"id": "cam1", "host": "h", "chair_preset": 128}], "chair_preset"),
        ([{"id": "cam1", "host": "h"}, {"id": "cam1", "host": "k"}], "given twice"),
        ([{"id": "Cam 1", "host": "h"}], "id"),
        ([{"id": "cam1", "host": "h", "transport": "serial"}], "transport"),
        ([{"id": "cam1", "host": "h", "zoom": 3}], "zoom"),
    ],
)
def test_bad_cameras_are_refused(cameras: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_minimal(cameras=cameras), "t.toml")
