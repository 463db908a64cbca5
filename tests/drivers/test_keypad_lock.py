"""A keypad line holds its serial device alone: a second master is refused with a clear error."""

from __future__ import annotations

import os
import pty

import pytest

from chamber.controller.core.clock import FakeClock
from chamber.drivers.errors import TransportError
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.serialport import SerialLink
from chamber.drivers.topology import Line, LineKind


async def test_a_second_master_on_a_keypad_line_is_refused() -> None:
    master, slave = pty.openpty()
    try:
        device = os.ttyname(slave)
        holder = SerialLink(device, 115200, lambda _data: None)
        try:
            line = Line("l1", LineKind.MODBUS_RTU, device, 115200, None, None, "none", 2)
            driver = KeypadLine(line, {1: 1}, FakeClock(0.0), lambda _: None, lambda _: None)
            with pytest.raises(TransportError, match="held by another program"):
                await driver._open_link()
        finally:
            holder.close()
        # Once the other master has let go, the line opens.
        link = await driver._open_link()
        link.close()
    finally:
        os.close(master)
        os.close(slave)
