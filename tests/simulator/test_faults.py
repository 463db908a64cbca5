"""Each fault behaves as specified, seen from the master's side of the wire."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from chamber.controller.config import UnitRef
from chamber.protocols import keypad, micunit
from chamber.simulator.faults import FaultKind, FaultRates
from chamber.simulator.hall import SimulatedHall
from tests.simulator.conftest import SerialMaster, small_hall

LINE = "keypads-1"
WINDOW = keypad.response_timeout(115200, keypad.read_response_bytes(12))


class RawMaster(SerialMaster):
    """Keeps every byte, and a framer that refuses frames with a bad CRC."""

    def __init__(self, path: str) -> None:
        self.framer = keypad.KeypadFramer(keypad.Transport.RTU, keypad.Side.CONTROLLER)
        super().__init__(path, self.framer.feed)


def _poll_frame(unit: int) -> bytes:
    return keypad.encode_frame(keypad.read_status_request(unit))


async def _poll(master: SerialMaster, unit: int) -> keypad.KeypadStatus:
    reply = await master.exchange(_poll_frame(unit))
    assert isinstance(reply, ModbusPDU)
    return keypad.decode_status(reply, unit)


async def test_crc_fault_corrupts_replies_of_that_unit_only() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=1) as hall:
        master = RawMaster(hall.daemon_config().line(LINE).device or "")
        try:
            hall.faults.corrupt(UnitRef(LINE, 2))
            assert await master.expect_silence(_poll_frame(2), WINDOW)
            # Bytes did arrive, but no frame with a valid CRC among them.
            assert len(master.received) == keypad.read_response_bytes(12)
            with_crc_error = bytes(master.received)
            assert not keypad.FramerRTU.check_CRC(
                with_crc_error[:-2], int.from_bytes(with_crc_error[-2:], "big")
            )
            master.framer.reset()
            assert (await _poll(master, 1)).boot_count == 1  # the neighbour is fine
            hall.faults.clear(UnitRef(LINE, 2))
            assert (await _poll(master, 2)).seq == 0
            assert hall.faults.injected[FaultKind.CRC] == 1
        finally:
            master.close()


async def test_silent_unit_times_out_and_the_line_goes_on() -> None:
    async with SimulatedHall(small_hall(), wire_time=True, seed=1) as hall:
        master = RawMaster(hall.daemon_config().line(LINE).device or "")
        try:
            hall.faults.silence(UnitRef(LINE, 3))
            assert await master.expect_silence(_poll_frame(3), WINDOW)
            assert master.received == b""
            assert (await _poll(master, 4)).seq == 0
            hall.faults.silence(UnitRef(LINE, 3), on=False)
            assert (await _poll(master, 3)).seq == 0
        finally:
            master.close()


async def test_slow_unit_answers_late() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=1) as hall:
        master = RawMaster(hall.daemon_config().line(LINE).device or "")
        try:
            hall.faults.slow(UnitRef(LINE, 1), 0.2)
            assert await master.expect_silence(_poll_frame(1), WINDOW)
            late = await master.next_reply(1.0)  # the late answer does come
            assert isinstance(late, ModbusPDU)
        finally:
            master.close()


async def test_fault_rates_are_drawn_from_the_seed() -> None:
    async def lost(seed: int) -> list[bool]:
        rates = FaultRates(silent=0.3)
        async with SimulatedHall(small_hall(), wire_time=False, seed=seed, rates=rates) as hall:
            master = RawMaster(hall.daemon_config().line(LINE).device or "")
            try:
                return [await master.expect_silence(_poll_frame(1), WINDOW) for _ in range(20)]
            finally:
                master.close()

    first = await lost(42)
    assert first == await lost(42)
    assert 0 < sum(first) < 20


async def test_keypad_reboot_resets_counters_and_sets_boot() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=1) as hall:
        master = RawMaster(hall.daemon_config().line(LINE).device or "")
        try:
            write = keypad.write_outputs_request(2, keypad.KeypadOutputs(locked=False, keys=3), 7)
            await master.exchange(keypad.encode_frame(write))
            hall.press(2, 1)
            before = await _poll(master, 2)
            assert not before.booted
            assert before.seq == 1
            hall.reboot(2)
            after = await _poll(master, 2)
            assert after.booted
            assert after.seq == 0
            assert after.events == ()
            assert after.boot_count == before.boot_count + 1
            tracker = keypad.KeypadTracker()
            tracker.wrote(7)
            tracker.update(before)
            assert tracker.update(after).resync is not None
        finally:
            master.close()


async def test_unplug_closes_the_port_and_replug_brings_it_back() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=1) as hall:
        device = Path(hall.daemon_config().line(LINE).device or "")
        master = RawMaster(str(device))
        hall.set_presence(1, True)
        assert (await _poll(master, 1)).present
        await hall.unplug(LINE)
        assert not await asyncio.to_thread(device.exists)
        # The daemon's open port is dead: a write fails or reads hang up, as with a pulled
        # USB adapter.
        try:
            dead = await master.expect_silence(_poll_frame(1), WINDOW)
        except OSError:
            dead = True
        assert dead
        master.close()
        await hall.replug(LINE)
        assert await asyncio.to_thread(device.exists)
        master = RawMaster(str(device))
        try:
            status = await _poll(master, 1)
            assert status.present
            assert status.seq == 1  # the units kept their state
        finally:
            master.close()
        assert hall.faults.injected[FaultKind.UNPLUG] == 1


async def test_mic_crc_fault_gives_a_bad_crc_frame_error() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=1) as hall:
        decoder = micunit.MicStreamDecoder()

        def decode(data: bytes) -> list[object]:
            decoder.receive_data(data)
            return list(decoder.events())

        master = SerialMaster(hall.daemon_config().line("mics-1").device or "", decode)
        try:
            hall.faults.corrupt("mics-1")
            reply = await master.exchange(micunit.encode(micunit.Poll(address=2)))
            assert isinstance(reply, micunit.FrameError)
            hall.faults.clear()
            reply = await master.exchange(micunit.encode(micunit.Poll(address=2)))
            assert isinstance(reply, micunit.Status)
        finally:
            master.close()


async def test_tcp_gateway_serves_the_same_register_map() -> None:
    config = small_hall(serial_seats=0, tcp_seats=3, per_line=4)
    async with SimulatedHall(config, wire_time=False, seed=1) as hall:
        line = hall.daemon_config().line("gateway-1")
        assert line.host == "127.0.0.1"
        assert line.port
        client = AsyncModbusTcpClient(line.host, port=line.port, timeout=2, retries=0)
        await client.connect()
        try:
            hall.set_presence(2, True)
            request = keypad.read_status_request(2)
            reply = await client.read_input_registers(
                request.address, count=request.count, device_id=2
            )
            status = keypad.decode_status(reply, 2)
            assert status.present
            assert status.seq == 1
            hall.faults.silence(UnitRef("gateway-1", 3))
            for unit in (3, 9):  # a silent unit, and an address nobody has
                reply = await client.read_input_registers(0, count=12, device_id=unit)
                assert isinstance(reply, ExceptionResponse)
                assert reply.exception_code == keypad.ExceptionCode.GATEWAY_TARGET_FAILED_TO_RESPOND
        finally:
            client.close()


async def test_hall_cleans_up_its_processes() -> None:
    hall = SimulatedHall(small_hall(), wire_time=False, seed=1)
    async with hall:
        pids = [kl.socat._proc.pid for kl in hall.keypad_lines.values() if kl.socat._proc]
        links = [Path(kl.daemon_device) for kl in hall.keypad_lines.values()]
        run = hall.runtime_dir
    assert pids
    assert all(not _alive(pid) for pid in pids)
    assert not any(p.exists() for p in links)
    assert not run.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_reboot_rate_restarts_units_while_polled() -> None:
    rates = FaultRates(reboot=0.5)
    async with SimulatedHall(small_hall(), wire_time=False, seed=4, rates=rates) as hall:
        master = RawMaster(hall.daemon_config().line(LINE).device or "")
        try:
            counts = [(await _poll(master, 1)).boot_count for _ in range(10)]
        finally:
            master.close()
        assert counts == sorted(counts)
        assert counts[-1] - 1 == hall.faults.injected[FaultKind.REBOOT] > 0


async def test_noise_reaches_the_master_and_the_line_recovers() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=6) as hall:
        master = RawMaster(hall.daemon_config().line(LINE).device or "")
        try:
            noise = hall.noise(LINE, 40)
            status = await _poll(master, 1)  # the master's framer hunts past the garbage
            assert status.seq == 0
            assert bytes(master.received).startswith(noise)
            assert hall.faults.injected[FaultKind.NOISE] == 1
        finally:
            master.close()
