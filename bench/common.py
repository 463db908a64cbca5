"""What every figure of the benchmark suite shares: percentiles, medians, the machine, JSON out.

A figure is one `Figure`: the value measured, the floor it stands beside (measured in the same
run) where it has one, the target, and whether the value meets it. Each figure module builds
its own and writes it to bench/results/<name>.json; `python -m bench` gathers them into one
table. Nothing here measures or asserts anything.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chamber.controller.config import HallConfig, load_config
from chamber.controller.hallgen import generate, sized

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Figure:
    """One line of the table. `ratio` is value/floor where there is a floor, else None."""

    number: int
    name: str
    value: float
    unit: str
    target: str
    meets: bool
    floor: float | None = None
    ratio: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least `q` of them at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    """The machine the figures ran on, as docs/benchmarks.md reports it."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    return {
        "cpus": os.cpu_count() or 0,
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(name: str, data: dict[str, Any], results: Path = RESULTS) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return path


def sized_config(seats: int, directory: Path) -> HallConfig:
    """An all-IP hall of `seats` seats, written as TOML (the daemon reads the same file)."""
    path = directory / f"hall-{seats}.toml"
    path.write_text(generate(sized(seats)), encoding="utf-8")
    return load_config(path)


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"chamber-bench-{prefix}-")


def report(figure: Figure) -> None:
    """One figure, as its module prints it when run alone."""
    verdict = "meets" if figure.meets else "MISSES"
    floor = "" if figure.floor is None else f"  floor {figure.floor:g} {figure.unit}"
    ratio = "" if figure.ratio is None else f"  ratio {figure.ratio:.2f}"
    print(
        f"figure {figure.number}: {figure.name}: {figure.value:g} {figure.unit}{floor}{ratio}"
        f"  target {figure.target}: {verdict}",
        file=sys.stdout,
    )
