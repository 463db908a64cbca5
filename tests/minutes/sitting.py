"""A sitting of the 50-seat Vietnamese council driven through the real runtime into a real
journal, for the minutes' tests: 11 delegates present at the opening and 29 more after it,
two absences noted by the secretary (one with leave), a speech and a question, an open vote
on the first agenda item and a secret ballot on the second.

`SittingTruth` is what the driver did, counted as it did it; the tests compare the minutes
with it, never with the exports' own arithmetic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    ClockAnchor,
    CloseSitting,
    CloseVote,
    CreateVote,
    GrantFloor,
    Input,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    RecordAbsence,
    RevokeFloor,
    SetCurrentItem,
    VoteKeyPressed,
)
from chamber.controller.core.model import SpeakerList, VoteMode
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"
# 08:00 on 2 December 2026 in the hall's zone (Asia/Ho_Chi_Minh in the example hall).
OPENED = datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
AGENDA = (
    AgendaItemSpec("1", "Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2027"),
    AgendaItemSpec("2", "Miễn nhiệm chức danh Phó Chủ tịch Ủy ban nhân dân tỉnh"),
)
SITTING_TITLE = "Kỳ họp thứ mười hai (kỳ họp thường lệ cuối năm 2026)"
AT_OPENING = range(1, 12)  # seats present when the sitting opens
LATER = range(12, 41)  # seats that arrive after the opening
EXCUSED_SEAT, UNEXCUSED_SEAT = 41, 42
EXCUSED_REASON, UNEXCUSED_REASON = "Đi công tác tại Hà Nội", "Không báo cáo lý do"
SPEECH_SEAT, SPEECH_S = 3, 528.0  # 8 phút 48 giây
QUESTION_SEAT, QUESTION_S = 5, 95.0  # 1 phút 35 giây
# The open vote v1: 27 tán thành, 10 không tán thành, 2 không biểu quyết; seat 40 presses
# nothing. The secret ballot v2: 30 tán thành, 6 không tán thành, 4 không biểu quyết.
OPEN_CHOICES = {s: 1 for s in range(1, 28)} | {s: 2 for s in range(28, 38)} | {38: 3, 39: 3}
SECRET_CHOICES = (
    {s: 1 for s in range(1, 31)} | {s: 2 for s in range(31, 37)} | {s: 3 for s in range(37, 41)}
)


@dataclass
class SittingTruth:
    config: HallConfig
    journal: Path
    seat_of: dict[str, int] = field(default_factory=dict)
    name_at: dict[int, str] = field(default_factory=dict)
    group_at: dict[int, str] = field(default_factory=dict)


def hall() -> HallConfig:
    return replace(load_config(EXAMPLE), place="Ninh Bình")


async def drive_sitting(data_dir: Path) -> SittingTruth:
    """Run the sitting into `data_dir/sitting.journal`; the runtime stops at the end."""
    config = hall()
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    path = data_dir / "sitting.journal"
    truth = SittingTruth(config, path)
    for seat in config.hall.seats:
        if seat.delegate is not None:
            delegate = next(d for d in config.hall.delegates if d.id == seat.delegate)
            truth.seat_of[delegate.id] = seat.number
            truth.name_at[seat.number] = delegate.name
            truth.group_at[seat.number] = delegate.group
    clock = FakeClock(1000.0)
    with Journal.open(path) as journal:
        runtime = Runtime(config, journal, clock=clock, secret_key_dir=data_dir / "keys")
        task = asyncio.ensure_future(runtime.run())

        async def cmd(make: Callable[[float], Input]) -> None:
            await runtime.command(make)

        try:
            async with asyncio.timeout(60):
                await runtime.started.wait()
            unix = OPENED.timestamp()
            await cmd(lambda at: ClockAnchor(at, unix))
            for seat in AT_OPENING:
                runtime.feed(PresenceChanged(clock.now(), seat, True))
            await cmd(lambda at: OpenSitting(at, "ky-hop-12", SITTING_TITLE, AGENDA))
            # The rest come in over the first twelve minutes, one every 25 seconds.
            for seat in LATER:
                runtime.feed(PresenceChanged(clock.advance(25.0), seat, True))
            clock.advance(30.0)
            await cmd(lambda at: RecordAbsence(at, EXCUSED_SEAT, True, EXCUSED_REASON))
            await cmd(lambda at: RecordAbsence(at, UNEXCUSED_SEAT, False, UNEXCUSED_REASON))
            clock.advance(60.0)
            await cmd(lambda at: GrantFloor(at, SPEECH_SEAT, SpeakerList.SPEAK))
            clock.advance(SPEECH_S)
            await cmd(lambda at: RevokeFloor(at, SPEECH_SEAT))
            clock.advance(10.0)
            await cmd(lambda at: GrantFloor(at, QUESTION_SEAT, SpeakerList.QUESTION))
            clock.advance(QUESTION_S)
            await cmd(lambda at: RevokeFloor(at, QUESTION_SEAT))
            clock.advance(20.0)
            await cmd(lambda at: CreateVote(at, "v1", AGENDA[0].title, mode=VoteMode.OPEN))
            await cmd(lambda at: OpenVote(at, "v1"))
            for seat, key in OPEN_CHOICES.items():
                runtime.feed(VoteKeyPressed(clock.advance(0.5), seat, key))
            clock.advance(5.0)
            await cmd(lambda at: CloseVote(at, "v1"))
            clock.advance(60.0)
            await cmd(lambda at: SetCurrentItem(at, "2"))
            title = "Miễn nhiệm Phó Chủ tịch Ủy ban nhân dân tỉnh (bỏ phiếu kín)"
            await cmd(lambda at: CreateVote(at, "v2", title, mode=VoteMode.SECRET))
            await cmd(lambda at: OpenVote(at, "v2"))
            for seat, key in SECRET_CHOICES.items():
                runtime.feed(VoteKeyPressed(clock.advance(0.5), seat, key))
            clock.advance(5.0)
            await cmd(lambda at: CloseVote(at, "v2"))
            clock.advance(300.0)
            await cmd(lambda at: CloseSitting(at))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return truth
