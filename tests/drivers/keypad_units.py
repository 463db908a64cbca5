"""Keypads for the driver tests: pymodbus servers answering from the codec's register model.

The registers are `protocols.keypad.KeypadRegisters`, so the tests never restate the map. The
server is pymodbus's own (RTU on a pty, or TCP on loopback); its `trace_packet` hook silences
or damages a chosen unit's replies, the way a dead unit or line noise would.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from chamber.protocols import keypad as kp


class KeypadContext(ModbusServerContext):
    """A server context whose devices are keypad register images."""

    def __init__(self, units: dict[int, kp.KeypadRegisters]) -> None:
        # Not the base initialiser: it wants pymodbus's own data blocks, and this serves the
        # codec's model instead ("old simulator" is the base class's flag for such contexts).
        self.units = units
        self.old_simulator = True
        self.simdevices = []

    def _unit(self, device_id: int) -> kp.KeypadRegisters:
        try:
            return self.units[device_id]
        except KeyError:
            raise NoSuchIdException(f"no keypad {device_id}") from None

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        table = (
            kp.Table.INPUT if func_code == kp.Function.READ_INPUT_REGISTERS else kp.Table.HOLDING
        )
        result = self._unit(device_id).read(table, address, count)
        if isinstance(result, kp.ExceptionCode):
            return ExcCodes(int(result))
        return result

    async def async_setValues(
        self,
        device_id: int,
        func_code: int,
        address: int,
        values: Sequence[int] | Sequence[bool],
    ) -> ExcCodes | None:
        result = self._unit(device_id).write(address, [int(v) for v in values])
        return None if result is None else ExcCodes(int(result))

    def device_ids(self) -> list[int]:
        return list(self.units)


class Keypads:
    """A line of keypads: `silent` units never answer, `damage` units answer with a bad CRC."""

    def __init__(self, addresses: Sequence[int], key_count: int = 3) -> None:
        identity = kp.Identity(key_count=key_count, maker="Công ty Ví Dụ", serial_number="KP-1")
        self.units = {a: kp.KeypadRegisters(identity, boot_count=10 + a) for a in addresses}
        self.context = KeypadContext(self.units)
        self.silent: set[int] = set()
        self.damage: set[int] = set()
        self.damage_once: set[int] = set()

    def trace(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        unit = data[0] if self._rtu else data[6]
        if unit in self.silent:
            return b""
        if unit in self.damage or unit in self.damage_once:
            self.damage_once.discard(unit)
            return data[:-1] + bytes((data[-1] ^ 0xFF,))
        return data

    _rtu = True

    def rtu_server(self, device: str) -> ModbusSerialServer:
        self._rtu = True
        return ModbusSerialServer(
            self.context,
            framer=FramerType.RTU,
            port=device,
            baudrate=115200,
            # A pty drops parity settings (8N2 here, as the driver's line); the bytes are the
            # same either way.
            parity="N",
            stopbits=2,
            ignore_missing_devices=True,
            broadcast_enable=True,
            trace_packet=self.trace,
        )

    def tcp_server(self, port: int) -> ModbusTcpServer:
        self._rtu = False
        return ModbusTcpServer(
            self.context,
            address=("127.0.0.1", port),
            ignore_missing_devices=True,
            broadcast_enable=True,
            trace_packet=self.trace,
        )
