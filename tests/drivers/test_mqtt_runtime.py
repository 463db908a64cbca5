"""The MQTT driver under the real runtime: every press it held is acknowledged once the
journal commit that holds it is done (the runtime's `settled`), none is left waiting."""

from __future__ import annotations

from pathlib import Path

from chamber.drivers.mqtt import MqttUnits
from tests.e2e.conftest import Council, ip_seats
from tests.e2e.hall import SimWatch, council
from tests.rig import HallRig


async def test_the_runtime_settles_every_press_the_driver_holds(private_dir: Path) -> None:
    rig = HallRig(council(), private_dir / "data", wire_time=False, seed=5)
    async with rig, rig.client() as chair:
        hall = Council(rig, chair, SimWatch(rig.sim))
        await hall.seat_everyone()
        ip = ip_seats(hall)
        await hall.open_vote("nq-01", "Nghị quyết về dự toán ngân sách năm 2027")
        choices = {seat: 1 + seat % 3 for seat in ip}
        for seat, key in choices.items():
            rig.sim.press(seat, key)
        await hall.watch.lit(choices, ip)  # the LED lights after the commit, and so does PUBACK
        driver = hall.driver("mqtt")
        assert isinstance(driver, MqttUnits)
        assert driver.held == 0
        assert all(rig.sim.ip_units[seat].unconfirmed == 0 for seat in ip)
