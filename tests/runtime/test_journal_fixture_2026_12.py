"""A journal written by the December 2026 release still opens, verifies, replays and exports
the same sitting, and goes through `chamber backup` and `chamber restore` unchanged
(tests/fixtures/make_journal_v1_2026_12.py wrote it; it is never rewritten)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chamber.controller.backup import restore_backup, take_backup
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.model import ManualMethod
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import VoteState
from chamber.controller.exports import replay_journal
from chamber.controller.journal import SCHEMA_VERSION, Journal, JournalReader, verify
from chamber.controller.runtime import Runtime
from tests.fixtures import make_journal_v1_2026_12 as fx

FIXTURE = fx.HERE / fx.NAME


@pytest.fixture
def config() -> HallConfig:
    return load_config(fx.HALL)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    path = data / fx.NAME
    shutil.copyfile(FIXTURE, path)
    shutil.copyfile(f"{FIXTURE}.head", f"{path}.head")
    return path


def test_the_fixture_is_frozen_as_written(copy: Path) -> None:
    # Read from a copy: even a read-only open of a WAL database makes its -shm file beside it.
    report = verify(copy)
    assert report.ok, report
    assert report.records == fx.RECORDS
    assert report.witness is not None
    assert report.witness.seq == fx.RECORDS
    assert SCHEMA_VERSION == 1


def replayed(path: Path, config: HallConfig) -> MeetingCore:
    with Journal.open(path) as journal:
        runtime = Runtime(config, journal)
        assert runtime.replay() == fx.RECORDS
        return runtime.core


def test_the_sitting_replays_with_the_current_code(copy: Path, config: HallConfig) -> None:
    core = replayed(copy, config)
    assert (core.sitting_id, core.sitting_title) == fx.SITTING
    votes = core.votes
    for vote_id, *_rest, presses in (fx.OPEN_VOTE, fx.SECRET_VOTE):
        vote = votes[vote_id]
        assert vote.state is VoteState.PUBLISHED
        assert vote.result is not None
        assert vote.result.totals[:3] == fx.totals(presses)
    assert votes[fx.OPEN_VOTE[0]].definition.item_id == "1"
    annulled = votes[fx.ANNULLED_VOTE[0]]
    assert annulled.state is VoteState.ANNULLED
    assert annulled.result is not None
    assert annulled.result.annulled is not None
    assert annulled.result.annulled.reason == fx.ANNUL_REASON
    rerun = votes[fx.RERUN]
    assert rerun.definition.rerun_of == fx.ANNULLED_VOTE[0]
    assert rerun.result is not None
    assert rerun.result.manual is ManualMethod.PAPER
    assert rerun.result.totals[:3] == fx.PAPER
    assert core.snapshot()["quorum"]["present"] == len(fx.PRESENT)


def test_the_sitting_exports_the_same_results(copy: Path, config: HallConfig) -> None:
    view = replay_journal(copy, config)
    assert view.votes[fx.OPEN_VOTE[0]].result.totals[:3] == fx.totals(fx.OPEN_VOTE[-1])
    assert view.votes[fx.SECRET_VOTE[0]].result.totals[:3] == fx.totals(fx.SECRET_VOTE[-1])
    assert view.votes[fx.RERUN].result.totals[:3] == fx.PAPER


def test_a_backup_of_it_restores_to_the_same_records(
    copy: Path, config: HallConfig, tmp_path: Path
) -> None:
    """The upgrade path: a backup of the old release's journal, restored, is the same chain."""
    dest = tmp_path / "usb"
    dest.mkdir()
    result = take_backup(copy.parent, dest, hall="fixture", journals=[copy], hall_file=fx.HALL)
    _checked, (done,) = restore_backup(result.path, tmp_path / "restored")
    assert done.annulled == ()
    original = [(r.seq, r.hash) for r in JournalReader(copy).records()]
    assert [(r.seq, r.hash) for r in JournalReader(done.journal).records()] == original
    assert replayed(done.journal, config).snapshot() == replayed(copy, config).snapshot()
