"""The driven sitting of `tests.minutes.sitting`, replayed from its journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from chamber.controller.exports import JournalView, replay_journal
from tests.minutes.sitting import SittingTruth, drive_sitting


@pytest.fixture
async def sitting(tmp_path: Path) -> tuple[SittingTruth, JournalView]:
    truth = await drive_sitting(tmp_path / "sitting")
    return truth, replay_journal(truth.journal, truth.config)
