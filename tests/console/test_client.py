"""The API client on its own: addresses, refusals with the daemon's words, a bad token, the CLI."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from chamber.console import cli
from chamber.console.client import ApiClient, ApiError, Link, stream_url
from chamber.console.seatmap import fit, given_name
from tests.console.conftest import Hall


@pytest.mark.parametrize(
    ("base", "since", "expected"),
    [
        ("http://h:8700", None, "ws://h:8700/api/stream"),
        ("https://hall.example/", 12, "wss://hall.example/api/stream?since=12"),
        ("http://h/prefix", 0, "ws://h/prefix/api/stream?since=0"),
    ],
)
def test_stream_url(base: str, since: int | None, expected: str) -> None:
    assert stream_url(base, since) == expected


def test_stream_url_names_the_daemon_run_it_resumes() -> None:
    assert stream_url("http://h", 7, "ab12") == "ws://h/api/stream?since=7&stream=ab12"
    assert stream_url("http://h", None, "ab12") == "ws://h/api/stream"


async def test_refused_command_carries_the_daemons_sentence(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.chair)
    try:
        with pytest.raises(ApiError) as refused:
            await client.vote_step("v9", "open")
        assert refused.value.status in (404, 409)
        assert "v9" in refused.value.detail
        with pytest.raises(ValueError, match="no vote step"):
            await client.vote_step("v1", "reopen")
    finally:
        await client.close()


async def test_a_bad_token_keeps_the_console_disconnected_and_says_why(hall: Hall) -> None:
    client = ApiClient(hall.url, "not-a-token", retry_s=(0.05, 0.1))
    client.start()
    try:
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.link is Link.DISCONNECTED)
        assert "401" in client.link_detail
        assert not client.mirror.ready
    finally:
        await client.close()


async def test_technician_may_not_open_a_vote(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.technician)
    try:
        with pytest.raises(ApiError) as refused:
            await client.create_vote("Tờ trình")
        assert refused.value.status == 403
    finally:
        await client.close()


def test_cli_requires_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAMBER_TOKEN", raising=False)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--url", "http://127.0.0.1:1"])) == 2
    assert cli.run(parser.parse_args(["--url", "ftp://x", "--token", "t"])) == 2


def test_given_names_and_cells() -> None:
    assert given_name("Phạm Mạnh Dũng") == "Dũng"
    assert given_name("") == ""
    assert fit("12 Phượng", 6) == "12 Phư"
    assert fit("1 Hà", 6) == "1 Hà  "
