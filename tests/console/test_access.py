"""The access panel's content: what `chamber demo` hands the console, as `chamber console`
reads it from its environment."""

from __future__ import annotations

from typing import Any, cast

from chamber.console.cli import access_from
from chamber.simulator.demo import DaemonProcess, Tokens, console_env


def test_the_demo_gives_the_console_the_wall_and_every_token() -> None:
    tokens = Tokens(chair="c" * 43, secretary="s" * 43, technician="t" * 43, observer="o" * 43)
    daemon = DaemonProcess(cast(Any, None), "http://127.0.0.1:8700", tokens)
    env = console_env(daemon)
    access = access_from(daemon.url, env["CHAMBER_TOKEN"], env)
    assert access.url == "http://127.0.0.1:8700"
    assert access.wall == f"http://127.0.0.1:8700/wall/?token={'o' * 43}"
    assert access.tokens == {
        "console": tokens.chair,
        "secretary": tokens.secretary,
        "technician": tokens.technician,
        "observer": tokens.observer,
    }


def test_a_console_started_by_hand_shows_its_own_token_and_no_wall() -> None:
    access = access_from("https://hall.example/", "tok", {"CHAMBER_CHAIR_TOKEN": "tok"})
    assert (access.url, access.wall, access.tokens) == (
        "https://hall.example",
        None,
        {"console": "tok"},
    )
