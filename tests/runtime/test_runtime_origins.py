"""The runtime rebuilds each seat's last origin from the journal, for the drivers' filters."""

from __future__ import annotations

from pathlib import Path

from controller.config import parse_config
from controller.core.inputs import OpenSitting, PresenceChanged, VoteKeyPressed, to_record
from controller.journal import Journal
from controller.runtime import Runtime
from tests.test_config import _minimal


def test_replay_collects_the_last_origin_of_each_seat(tmp_path: Path) -> None:
    config = parse_config(_minimal())
    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.append_batch(
            [
                to_record(OpenSitting(1.0, "s", "Kỳ họp")),
                to_record(PresenceChanged(2.0, 2, True, None, "ip:3:1")),
                to_record(VoteKeyPressed(3.0, 2, 1, "ip:3:2")),
                to_record(VoteKeyPressed(3.5, 1, 2, "kp:1:9")),
                to_record(PresenceChanged(4.0, 1, True)),  # a serial keypad: no origin
            ]
        )
    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = Runtime(config, journal)
        assert runtime.replay() == 5
        assert runtime.origins == {(2, "ip"): "ip:3:2", (1, "kp"): "kp:1:9"}
        assert runtime.core.snapshot()["quorum"]["present"] == 2
