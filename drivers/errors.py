"""The drivers' exception tree.

Library errors (pymodbus, pyserial, OS errors from sockets and the broker process) are caught at
the driver boundary and re-raised as one of these with `raise ... from`, so that the runtime
handles one family of errors and the original cause stays in the traceback.

A driver's `run()` never lets one of these escape for a unit's misbehaviour: a bad reply or a
silent unit is counted in that unit's health and the line goes on. They escape only for what
the runtime must know about: a configuration the driver cannot serve, or a broker that cannot
start at all.
"""

from __future__ import annotations


class DriverError(Exception):
    """Base class of every error a driver raises."""


class DriverConfigError(DriverError):
    """The driver was given a line, unit or broker configuration it cannot serve."""


class TransportError(DriverError):
    """The line's transport (serial port, TCP gateway, broker connection) failed or is gone."""


class UnitTimeout(DriverError):
    """A unit did not answer within the spec's timeout, retries included."""

    def __init__(self, address: int, message: str = "") -> None:
        super().__init__(message or f"unit {address} did not answer")
        self.address = address


class UnitReplyError(DriverError):
    """A unit answered, but with garbage: a bad CRC, a wrong length, or a Modbus exception."""

    def __init__(self, address: int, message: str, *, crc: bool = False) -> None:
        super().__init__(f"unit {address}: {message}")
        self.address = address
        # True when the reply was damaged on the wire (counted as a CRC error).
        self.crc = crc


class BrokerError(DriverError):
    """The embedded MQTT broker could not be configured, started or kept running."""
