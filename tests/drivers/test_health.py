"""The health monitors: a report per change, one log line per loss and per return."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from chamber.drivers.base import LineHealth, UnitHealth, UnitKind
from chamber.drivers.health import NEVER_ANSWERED_AFTER, LineMonitor, UnitMonitor

# What a driver may tell a unit's monitor, in any order.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("online"), st.booleans()),
        st.tuples(st.just("seen"), st.floats(0, 1e6)),
        st.tuples(st.just("timeout"), st.integers(1, 3)),
        st.tuples(st.just("crc"), st.integers(1, 3)),
        st.tuples(st.just("reboot"), st.none()),
    ),
    max_size=60,
)


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(getattr(record, "event", ""))


@given(STEPS)
def test_units_report_changes_only_and_log_each_loss_once(steps: list[tuple[str, object]]) -> None:
    reports: list[UnitHealth | LineHealth] = []
    logs = _Logs()
    logger = logging.getLogger("chamber.drivers.health")
    logger.addHandler(logs)
    logger.setLevel(logging.INFO)
    try:
        monitor = UnitMonitor("rtu1", 4, 12, UnitKind.KEYPAD, reports.append)
        online = ever_online = False
        losses = returns = 0
        timeouts = crc = 0
        for what, arg in steps:
            before = len(reports)
            if what == "online":
                assert isinstance(arg, bool)
                changed = monitor.set_online(arg)
                assert changed == (arg != online)
                losses += int(online and not arg)
                returns += int(arg and not online)
                online = arg
                ever_online = ever_online or arg
                assert len(reports) == before + int(changed)
            elif what == "seen":
                assert isinstance(arg, float)
                monitor.seen(arg, 1.5)
                assert len(reports) == before  # a poll that went well is no news
                assert monitor.health.last_seen == arg
            elif what in ("timeout", "crc"):
                assert isinstance(arg, int)
                if what == "timeout":
                    monitor.count(timeouts=arg)
                    timeouts += arg
                else:
                    monitor.count(crc_errors=arg)
                    crc += arg
                # Counted always; reported while online (a lost unit's probes are quiet),
                # and once for a unit that never answered, at its first failure.
                total = timeouts + crc
                first = not ever_online and total - arg < NEVER_ANSWERED_AFTER <= total
                assert len(reports) == before + int(online or first)
            else:
                monitor.rebooted()
                assert len(reports) == before + 1
        assert monitor.health.online is online
        assert (monitor.health.timeouts, monitor.health.crc_errors) == (timeouts, crc)
        assert logs.events.count("unit-lost") == losses
        assert logs.events.count("unit-found") + logs.events.count("unit-back") == returns
        assert logs.events.count("unit-found") == min(returns, 1)
        # "Does not answer" is logged once, if the unit failed often enough before it ever
        # answered.
        failed = 0
        for what, arg in steps:
            if (what, arg) == ("online", True):
                break
            if what in ("timeout", "crc"):
                assert isinstance(arg, int)
                failed += arg
        assert logs.events.count("unit-silent") == int(failed >= NEVER_ANSWERED_AFTER)
    finally:
        logger.removeHandler(logs)


@given(st.lists(st.booleans(), max_size=40))
def test_a_line_reports_transitions_only(states: list[bool]) -> None:
    reports: list[UnitHealth | LineHealth] = []
    line = LineMonitor("mic1", reports.append)
    connected = False
    expected = 0
    for up in states:
        if up:
            line.connected("/dev/ttyUSB0")
            expected += int(not connected)
        else:
            # The first "down" (never connected yet) is news too; repeats are not.
            expected += int(connected or not reports)
            line.disconnected("cable pulled")
        connected = up
        assert len(reports) == expected
        assert line.health.connected is up
