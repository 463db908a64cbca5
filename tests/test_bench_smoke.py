"""The benchmark suite runs and writes its figures: the core-rate figure at its smallest size.

No timing is asserted here (machines differ, and tests never hold a wall-clock limit); only
that `python -m bench --quick --only 3` produces a figure, a table and well-formed JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main, table
from bench.common import Figure, percentile


def test_quick_core_figure_writes_json(tmp_path: Path) -> None:
    assert main(["--quick", "--only", "3", "--results", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert summary["quick"] is True
    assert summary["machine"]["cpus"] >= 1
    (figure,) = summary["figures"]
    assert figure["number"] == 3
    assert figure["value"] > 0
    assert figure["details"]["by_mode"].keys() == {"open", "secret"}
    single = json.loads((tmp_path / "core_rate.json").read_text(encoding="utf-8"))
    assert figure["quick"] is True
    assert figure["date"] == summary["date"]
    assert single == {k: v for k, v in figure.items() if k not in ("date", "quick")}


def test_table_names_a_missed_target() -> None:
    missed = Figure(2, "RTU poll cycle", 300.0, "ms", "<= 1.15x", False, floor=241.0, ratio=1.24)
    met = Figure(3, "key events/s", 90000.0, "presses/s", ">= 50,000", True)
    text = table([missed, met])
    assert "MISS" in text.splitlines()[2]
    assert "pass" in text.splitlines()[3]
    assert "1.24" in text


def test_percentile_is_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
