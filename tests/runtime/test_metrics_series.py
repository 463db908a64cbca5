"""The series `/metrics` serves stay few however large the hall: per line a fixed set, per unit
only the units in trouble, and no unit's timing at all (a press is a message from its unit: a
per-seat response time during a secret vote would show who pressed when)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.common import sized_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.journal import Journal
from chamber.controller.metrics import Metrics
from chamber.controller.runtime import Runtime
from chamber.drivers.base import LineHealth, UnitHealth, UnitKind

SEATS = 4096


def series(metrics: Metrics) -> list[tuple[str, dict[str, str]]]:
    text = metrics.render().decode("utf-8")
    return [
        (s.name, dict(s.labels))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_a_4096_seat_hall_has_few_series_and_one_more_per_unit_in_trouble(
    tmp_path: Path,
) -> None:
    config = sized_config(SEATS, tmp_path)
    with Journal.open(tmp_path / "j.journal") as journal:
        runtime = Runtime(config, journal, clock=FakeClock(10.0))
        metrics = Metrics(runtime)
        runtime._on_health(LineHealth("ip", connected=True))
        for seat in range(1, SEATS + 1):
            unit = UnitHealth(
                "ip", seat, seat, UnitKind.IP, online=True, last_seen=9.0, response_ms=3.5
            )
            runtime._on_health(unit)
        healthy = series(metrics)
        assert len(healthy) < 100, Counter(name for name, _ in healthy)
        figures = {
            name: labels for name, labels in healthy if name.startswith("chamber_line_units")
        }
        assert set(figures) == {"chamber_line_units", "chamber_line_units_online"}
        assert not [labels for _, labels in healthy if "seat" in labels or "address" in labels]
        text = metrics.render().decode("utf-8")
        assert 'chamber_line_units{line="ip"} 4096.0' in text
        assert 'chamber_line_units_online{line="ip"} 4096.0' in text

        for seat in (7, 300, 4000):
            runtime._on_health(UnitHealth("ip", seat, seat, UnitKind.IP, online=False))
        troubled = series(metrics)
        assert len(troubled) == len(healthy) + 3
        added = [labels for name, labels in troubled if name == "chamber_unit_trouble"]
        assert sorted(int(labels["seat"]) for labels in added) == [7, 300, 4000]
        assert {labels["why"] for labels in added} == {"offline"}
        assert 'chamber_line_units_online{line="ip"} 4093.0' in metrics.render().decode()
        # No series carries a unit's time (last seen, response) or any vote's choice.
        names = {name for name, _ in troubled}
        assert not [n for n in names if "response" in n or "last_seen" in n or "choice" in n]
