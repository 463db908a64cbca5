"""A small line of microphone units for the driver tests, built on the codec's unit model.

It answers on the far end of a pty pair exactly as `protocols.micunit.MicUnitState` says, and
lets a test press keys, restart a unit, silence it, or damage its next reply.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from chamber.drivers.serialport import SerialLink
from chamber.protocols import micunit as mic


class MicUnits:
    def __init__(self, device: str | None, addresses: list[int]) -> None:
        self.units = {a: mic.MicUnitState(serial=1000 + a, address=a, seen=True) for a in addresses}
        self.silent: set[int] = set()
        self.damage_next: set[int] = set()
        # Addressed commands a unit answers with NAK NOT_SUPPORTED instead of acting on them.
        self.refuse: dict[int, mic.Command] = {}
        self.heard: list[mic.MicMessage] = []
        self.changed = asyncio.Event()
        self._decoder = mic.MicStreamDecoder()
        self._link: SerialLink | None = None
        self._writer: asyncio.StreamWriter | None = None
        if device is not None:
            self._link = SerialLink(device, 115200, self._received)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    async def serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve the line over a TCP connection (an RS-485-to-TCP converter's view)."""
        self._writer = writer
        self._decoder = mic.MicStreamDecoder()
        try:
            while data := await reader.read(4096):
                self._received(data)
        finally:
            writer.close()

    def _write(self, frame: bytes) -> None:
        if self._link is not None:
            self._link.write(frame)
        elif self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame)

    def press(self, address: int, kind: mic.UnitEvent) -> None:
        self.units[address] = self.units[address].press(kind)

    def restart(self, address: int) -> None:
        """Power-cycle a unit: it forgets its state and reports `boot` until told it is seen."""
        old = self.units[address]
        self.units[address] = mic.MicUnitState(serial=old.serial, address=address, seen=True)

    def _received(self, data: bytes) -> None:
        self._decoder.receive_data(data)
        for event in self._decoder.events():
            if isinstance(event, mic.FrameError):
                continue
            self.heard.append(event)
            for address, state in list(self.units.items()):
                if self.refuse.get(address) == event.COMMAND and event.address == address:
                    nak = mic.Nak(
                        address=address, command=event.COMMAND, reason=mic.NakReason.NOT_SUPPORTED
                    )
                    self._write(mic.encode(nak))
                    continue
                new, reply = state.handle(event)
                self.units[address] = new
                if reply is None or address in self.silent:
                    continue
                frame = mic.encode(reply)
                if address in self.damage_next:
                    self.damage_next.discard(address)
                    frame = frame[:-1] + bytes((frame[-1] ^ 0x01,))
                    if frame[-1] in (mic.SOF, mic.ESCAPE):
                        frame = frame[:-1] + bytes((frame[-1] ^ 0x02,))
                self._write(frame)
            self.changed.set()

    async def wait_until(self, predicate: object, within: float = 5.0) -> None:
        assert callable(predicate)

        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), within)

    def mic_on(self, address: int) -> bool:
        return self.units[address].mic_on

    def set_shown(self, address: int, **changes: object) -> None:
        self.units[address] = replace(self.units[address], **changes)  # type: ignore[arg-type]
