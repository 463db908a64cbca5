"""A journal written by the release that defined schema version 1 still reads, replays and
exports the same sitting (tests/fixtures/make_journal_v1.py wrote it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.votes import VoteState
from chamber.controller.exports import replay_journal
from chamber.controller.journal import Journal, verify
from chamber.controller.runtime import Runtime
from tests.fixtures import make_journal_v1 as v1

FIXTURE = v1.HERE / v1.NAME


@pytest.fixture
def config() -> HallConfig:
    return load_config(v1.HALL)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The fixture copied as a hall's data directory holds it: key files private."""
    path = tmp_path / v1.NAME
    shutil.copyfile(FIXTURE, path)
    keys = tmp_path / f"{v1.NAME}.secret-keys"
    shutil.copytree(v1.HERE / keys.name, keys)
    keys.chmod(0o700)
    for key in keys.iterdir():
        key.chmod(0o600)
    return path


def test_the_fixture_is_schema_version_1_and_verifies(copy: Path) -> None:
    report = verify(copy)
    assert report.ok, report
    assert report.records == 51


def test_the_v1_sitting_replays_with_the_current_code(copy: Path, config: HallConfig) -> None:
    with Journal.open(copy) as journal:
        runtime = Runtime(config, journal)
        # 51 chain records, and the 4 encrypted presses of the secret vote left open.
        assert runtime.replay() == 51 + len(v1.OPEN_SECRET_VOTE[3])
        core = runtime.core
    assert core.sitting_id == v1.SITTING[0]
    assert core.sitting_title == v1.SITTING[1]
    votes = core.votes
    open_vote, secret_vote, still_open = (
        votes[v[0]] for v in (v1.OPEN_VOTE, v1.SECRET_VOTE, v1.OPEN_SECRET_VOTE)
    )
    assert open_vote.state is VoteState.PUBLISHED
    assert open_vote.result is not None
    assert open_vote.result.totals[:3] == v1.totals(v1.OPEN_VOTE[3])
    assert open_vote.result.outcome.adopted
    assert open_vote.definition.title == "Nghị quyết về dự toán ngân sách địa phương năm 2027"
    assert secret_vote.state is VoteState.PUBLISHED
    assert secret_vote.result is not None
    assert secret_vote.result.totals[:3] == v1.totals(v1.SECRET_VOTE[3])
    # The secret vote left open comes back open, with every seat that pressed counted.
    assert still_open.state is VoteState.OPEN
    tally = next(v for v in core.snapshot()["votes"] if v["vote_id"] == still_open.vote_id)
    assert tally["tally"]["voted"] == len(dict(v1.OPEN_SECRET_VOTE[3]))
    assert core.snapshot()["quorum"]["present"] == len(v1.PRESENT)


def test_the_v1_sitting_exports_the_same_results(copy: Path, config: HallConfig) -> None:
    view = replay_journal(copy, config)
    assert set(view.votes) == {v1.OPEN_VOTE[0], v1.SECRET_VOTE[0]}
    for vote_id, presses in (
        (v1.OPEN_VOTE[0], v1.OPEN_VOTE[3]),
        (v1.SECRET_VOTE[0], v1.SECRET_VOTE[3]),
    ):
        assert view.votes[vote_id].result.totals[:3] == v1.totals(presses)
        assert view.votes[vote_id].published
    # The secret vote's result is final at its sealed record, which is in the chain.
    with Journal.open(copy) as journal:
        sealed = [s for s, r in journal.records() if r["kind"] == "secret-vote-sealed"]
    assert view.votes[v1.SECRET_VOTE[0]].seq == sealed[0]
