"""The torture harness's secrecy check on `/metrics`: what the daemon serves passes it (a
unit in trouble named by its seat, with no time and nothing of a vote), and series that would
pair seats with choices, or give a vote's running figures, are caught (the check is seen to
fail)."""

from __future__ import annotations

from pathlib import Path

from bench.common import sized_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.journal import Journal
from chamber.controller.metrics import Metrics
from chamber.controller.runtime import Runtime
from chamber.drivers.base import LineHealth, UnitHealth, UnitKind
from tests.torture import ledger

SECRET = ledger.Secret("nq-03", {4: 1, 5: 2}, frozenset(), None, None)


async def test_the_daemons_metrics_pass_and_leaky_series_are_caught(tmp_path: Path) -> None:
    config = sized_config(50, tmp_path)
    with Journal.open(tmp_path / "j.journal") as journal:
        runtime = Runtime(config, journal, clock=FakeClock(10.0))
        metrics = Metrics(runtime)
        runtime._on_health(LineHealth("ip", connected=True))
        runtime._on_health(UnitHealth("ip", 4, 4, UnitKind.IP, online=True, response_ms=2.0))
        runtime._on_health(UnitHealth("ip", 5, 5, UnitKind.IP, online=False))
        metrics.observe(0.004, [0.02, 0.03])
        served = metrics.render().decode("utf-8")
    assert 'chamber_unit_trouble{address="5"' in served
    assert ledger.metrics_links([served], SECRET) == []
    assert ledger.metrics_links([], SECRET) == [
        "metrics: never scraped during a secret vote, not searched"
    ]

    leaky = "\n".join(
        [
            "# TYPE chamber_unit_response_seconds gauge",
            'chamber_unit_response_seconds{line="ip",seat="4"} 0.002',
            "# TYPE chamber_vote_presses gauge",
            'chamber_vote_presses{vote="nq-03"} 2',
            "# TYPE chamber_keys_pressed gauge",
            'chamber_keys_pressed{key="1"} 1',
            "# TYPE chamber_choice_count gauge",
            "chamber_choice_count 1",
            "",
        ]
    )
    found = ledger.metrics_links([leaky], SECRET)
    assert "metrics scrape 1: chamber_unit_response_seconds has a series per seat" in found
    assert "metrics scrape 1: chamber_vote_presses has a series of vote nq-03" in found
    assert "metrics scrape 1: chamber_keys_pressed has a series per key" in found
    assert "metrics scrape 1: chamber_keys_pressed is a series of choices or keys" in found
    assert "metrics scrape 1: chamber_choice_count is a series of choices or keys" in found
