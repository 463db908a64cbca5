"""Card readers end to end: the simulator's keypads take cards, the daemon's core gives
presence and votes to the delegate whose card is in the unit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from chamber.controller.config import HallConfig
from tests.e2e.hall import SimWatch, choices_of, council, create_and_open, post, vote_of
from tests.rig import HallRig


def card(index: int) -> str:
    return f"04A1B2C3D4{index:04X}"


def with_cards(cfg: HallConfig) -> HallConfig:
    delegates = tuple(
        replace(d, cards=(card(i),)) for i, d in enumerate(cfg.hall.delegates, start=1)
    )
    return replace(cfg, hall=replace(cfg.hall, delegates=delegates))


async def test_presence_and_votes_belong_to_the_card_in_the_unit(private_dir: Path) -> None:
    cfg = with_cards(council())
    index = {d.id: i for i, d in enumerate(cfg.hall.delegates, start=1)}
    serial = sorted(u.seat for u in cfg.units if u.keypad is not None and u.ip is False)
    a, b = serial[0], serial[1]
    rig = HallRig(
        cfg,
        private_dir / "data",
        wire_time=False,
        seed=7,
        sim_options={
            "card_readers": {a, b},
        },
    )
    async with rig, rig.client() as chair:
        watch = SimWatch(rig.sim)
        delegate_a = cfg.hall.seat(a).delegate
        delegate_b = cfg.hall.seat(b).delegate
        assert delegate_a is not None
        assert delegate_b is not None
        await post(chair, "/api/sitting/open", {"sitting_id": "kh-7", "title": "Kỳ họp thứ 7"})
        others = [s for s in rig.sim.seats if s not in (a, b)]
        for seat in others:
            rig.sim.set_presence(seat, True)

        def present(st: dict[str, Any]) -> set[int]:
            return set(st["attendance"]["present_seats"])

        await rig.wait_state(lambda st: present(st) >= set(others))
        # A's own card: present. A's card (a copy) at B while A sits: refused, B absent;
        # B's own card once the refused one is out: present.
        rig.sim.insert_card(a, card(index[delegate_a]))
        rig.sim.insert_card(b, card(index[delegate_a]))
        await rig.wait_state(lambda st: a in present(st))
        rig.sim.remove_card(b)
        rig.sim.insert_card(b, card(index[delegate_b]))
        st = await rig.wait_state(lambda st: {a, b} <= present(st))
        await create_and_open(chair, "nq-01", "Nghị quyết thử thẻ")
        await watch.unlocked([a, b])
        rig.sim.press(a, 1)
        rig.sim.press(b, 2)
        await rig.wait_state(lambda st: choices_of(vote_of(st, "nq-01")) == {a: 1, b: 2})
        # A takes the card out: A's seat is absent, and its press is not counted.
        rig.sim.remove_card(a)
        await rig.wait_state(lambda st: a not in present(st))
        rig.sim.press(a, 3)
        rig.sim.press(b, 1)  # a later press, read after A's
        st = await rig.wait_state(lambda st: choices_of(vote_of(st, "nq-01")).get(b) == 1)
        assert choices_of(vote_of(st, "nq-01"))[a] == 1
        await post(chair, "/api/votes/nq-01/close")
        # With no vote open, A's card at B seats A there: B's delegate loses the seat.
        rig.sim.remove_card(b)
        await rig.wait_state(lambda st: b not in present(st))
        rig.sim.insert_card(b, card(index[delegate_a]))
        st = await rig.wait_state(lambda st: b in present(st))
        assert st["attendance"]["seating"] == {str(a): None, str(b): delegate_a}
