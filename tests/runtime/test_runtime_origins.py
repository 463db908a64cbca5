"""The runtime rebuilds each seat's last origin from the journal, for the drivers' filters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

import pytest

from chamber.controller.config import parse_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import (
    CloseVote,
    CreateVote,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    SecretVoteSealed,
    SetPresence,
    Tick,
    VoteKeyPressed,
    from_record,
    to_record,
)
from chamber.controller.core.model import VoteMode
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime
from tests.test_config import _minimal


def test_replay_collects_the_last_origin_of_each_seat(tmp_path: Path) -> None:
    config = parse_config(_minimal())
    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.append_batch(
            [
                to_record(OpenSitting(1.0, "s", "Kỳ họp")),
                to_record(PresenceChanged(2.0, 2, True, None, "ip:3:1")),
                to_record(VoteKeyPressed(3.0, 2, 1, "ip:3:2")),
                to_record(VoteKeyPressed(3.5, 1, 2, "kp:1:9")),
                to_record(PresenceChanged(4.0, 1, True)),  # a serial keypad: no origin
            ]
        )
    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = Runtime(config, journal)
        assert runtime.replay() == 5
        assert runtime.origins == {(2, "ip"): "ip:3:2", (1, "kp"): "kp:1:9"}
        assert runtime.core.snapshot()["quorum"]["present"] == 2


# --- secret ballots: a cursor is kept, never a choice -----------------------------------------


async def _run_until_started(runtime: Runtime) -> asyncio.Task[None]:
    task = asyncio.ensure_future(runtime.run())
    async with asyncio.timeout(10):
        await runtime.started.wait()
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _settle(runtime: Runtime) -> None:
    """Return once every input fed so far has been handled and made durable."""
    await runtime.command(lambda at: Tick(at=at))


async def _secret_vote_with_presses(runtime: Runtime, clock: FakeClock) -> None:
    for make in (
        lambda at: OpenSitting(at, "s", "Kỳ họp"),
        lambda at: OpenAttendance(at),
        lambda at: SetPresence(at, 1, True),
        lambda at: SetPresence(at, 2, True),
        lambda at: CreateVote(at, "v1", "Bỏ phiếu kín", mode=VoteMode.SECRET),
        lambda at: OpenVote(at, "v1"),
    ):
        await runtime.command(make)
    clock.advance(1.0)
    runtime.feed(VoteKeyPressed(clock.now(), 1, 2, "kp:4:17"))
    runtime.feed(VoteKeyPressed(clock.now(), 2, 1, "ip:9:3"))
    await _settle(runtime)


def _runtime(journal: Journal, clock: FakeClock) -> Runtime:
    config = parse_config(_minimal())
    return Runtime(config, journal, clock=clock, secret_key_dir=journal.path.parent / "keys")


async def test_a_restart_mid_secret_vote_resumes_each_unit_after_its_secret_press(
    tmp_path: Path,
) -> None:
    clock = FakeClock(100.0)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = _runtime(journal, clock)
        task = await _run_until_started(runtime)
        await _secret_vote_with_presses(runtime, clock)
        await _stop(task)  # the vote is still open: a crash would leave it so
    with Journal.open(tmp_path / "j.sqlite") as journal:
        again = _runtime(journal, clock)
        again.replay()
        # The drivers resume after the secret presses: a keypad's ring is not read again.
        assert again.origins[(1, "kp")] == "kp:4:17"
        assert again.origins[(2, "ip")] == "ip:9:3"
        # ... and nothing of the ballot is in the chain.
        bodies = [json.dumps(r) for _, r in journal.records()]
        assert not any("kp:4:17" in b or "ip:9:3" in b for b in bodies)


async def test_a_sealed_secret_vote_keeps_cursors_and_no_choice(tmp_path: Path) -> None:
    clock = FakeClock(100.0)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = _runtime(journal, clock)
        task = await _run_until_started(runtime)
        await _secret_vote_with_presses(runtime, clock)
        await runtime.command(lambda at: CloseVote(at, "v1"))
        await _stop(task)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        again = _runtime(journal, clock)
        again.replay()
        assert again.origins[(1, "kp")] == "kp:4:17"
        assert again.origins[(2, "ip")] == "ip:9:3"
        sealed = [r for _, r in journal.records() if r["kind"] == "secret-vote-sealed"]
        assert len(sealed) == 1
        assert sealed[0]["cursors"] == ["1=kp:4:17", "2=ip:9:3"]
        # The sealed record holds totals, participants and cursors: no seat with its key.
        assert set(sealed[0]) == {
            "kind",
            "at",
            "vote_id",
            "totals",
            "weighted_totals",
            "participants",
            "cursors",
        }
        assert not journal.secret_presses()
        result = again.core.votes["v1"].result
        assert result is not None
        assert result.totals[:3] == (1, 1, 0)


async def test_a_later_chain_event_of_a_seat_moves_its_cursor_past_the_seal(
    tmp_path: Path,
) -> None:
    clock = FakeClock(100.0)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = _runtime(journal, clock)
        task = await _run_until_started(runtime)
        await _secret_vote_with_presses(runtime, clock)
        runtime.feed(PresenceChanged(clock.now(), 2, True, None, "ip:9:4"))
        await _settle(runtime)
        await runtime.command(lambda at: CloseVote(at, "v1"))
        await _stop(task)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        again = _runtime(journal, clock)
        again.replay()
        assert again.origins[(2, "ip")] == "ip:9:4"
        assert again.origins[(1, "kp")] == "kp:4:17"


def test_a_sealed_record_of_an_earlier_release_reads_without_cursors() -> None:
    record = {
        "kind": "secret-vote-sealed",
        "at": 3.0,
        "vote_id": "v1",
        "totals": [1, 1, 0],
        "weighted_totals": None,
        "participants": [1, 2],
    }
    inp = from_record(record)
    assert isinstance(inp, SecretVoteSealed)
    assert inp.cursors == ()


async def test_a_malformed_unit_input_is_logged_once_and_not_journaled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(100.0)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = _runtime(journal, clock)
        task = await _run_until_started(runtime)
        await _secret_vote_with_presses(runtime, clock)
        before = journal.head.seq
        caplog.set_level(logging.INFO, logger="chamber.runtime")
        runtime.feed(VoteKeyPressed(clock.now(), 1, 2.0, "kp:4:18"))  # type: ignore[arg-type]
        await _settle(runtime)
        refused = [r for r in caplog.records if getattr(r, "event", None) == "input-refused"]
        assert len(refused) == 1
        assert "2.0" not in refused[0].getMessage()  # a secret ballot's key, even malformed
        # The tick of `_settle` is all that was added; the press is not in the chain.
        assert journal.head.seq == before + 1
        # And the seat still votes.
        runtime.feed(VoteKeyPressed(clock.now(), 1, 1, "kp:4:19"))
        await _settle(runtime)
        await runtime.command(lambda at: CloseVote(at, "v1"))
        result = runtime.core.votes["v1"].result
        assert result is not None
        assert result.totals[:3] == (2, 0, 0)
        await _stop(task)
