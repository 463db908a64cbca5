"""Time across restarts: the daemon's clock resumes where the journal stands, and dates come
from the clock anchors journaled at each start."""

from __future__ import annotations

import time

import pytest

from chamber.controller.config import ConfigError, parse_config
from chamber.controller.core.clock import ResumingClock
from chamber.controller.core.inputs import ClockAnchor, OpenSitting, from_record, to_record
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.exports import local_time
from tests.test_config import _minimal


def test_resuming_clock_never_goes_behind_the_journal() -> None:
    clock = ResumingClock()
    far = time.monotonic() + 10_000.0  # as after a reboot: the journal is "ahead"
    clock.resume_from(far)
    assert clock.now() >= far
    before = clock.now()
    assert clock.now() >= before
    behind = ResumingClock()
    behind.resume_from(0.0)  # an older journal: the clock keeps running as it is
    assert abs(behind.now() - time.monotonic()) < 1.0


def test_anchor_round_trips_and_gives_dates_in_the_hall_zone() -> None:
    anchor = ClockAnchor(at=100.0, unix=1_796_000_000.0)
    assert from_record(to_record(anchor)) == anchor
    cfg = parse_config(_minimal(hall={"id": "h1", "timezone": "Asia/Ho_Chi_Minh"}))
    core = MeetingCore(cfg.hall)
    assert core.unix_time(150.0) is None
    assert core.handle(anchor) == []
    core.handle(OpenSitting(160.0, "s1", "Kỳ họp"))
    assert core.unix_time(160.0) == 1_796_000_060.0
    assert local_time(core, cfg.timezone, 160.0) == "2026-11-30T07:54:20+07:00"  # 00:54:20 UTC
    # A later start anchors the later inputs, whatever the clock read.
    core.handle(ClockAnchor(at=5.0 + 200.0, unix=1_796_100_000.0))
    assert core.unix_time(205.0) == 1_796_100_000.0
    assert core.unix_time(160.0) == 1_796_000_060.0


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"hall.timezone: unknown time zone 'Mars/Base'"):
        parse_config(_minimal(hall={"id": "h1", "timezone": "Mars/Base"}))
