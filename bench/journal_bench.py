"""How fast the journal makes presses durable, and how fast a day's sitting replays.

Measures, on the disk that holds `--dir` (the system temp directory by default):
- a burst of 4,096 concurrent submits (every seat of the largest hall pressing at once):
  commits, records per commit, commits per second, submit latency p50/p99;
- a sustained load: 64 producers each submitting one press after another;
- one submit at a time: the latency of a single commit, which is the floor of every figure;
- a day's sitting (~200,000 records: 300 votes at 500 seats, presence and floor traffic):
  reading + JSON decoding, rebuilding the inputs, and verifying the chain;
- what the head file costs: the single-submit and sustained figures again in the same run with
  its write (one more `fdatasync` per commit) left out, and the ratio.

Prints the figures and writes them as JSON to bench/results/journal.json. Run with
`python -m bench.journal_bench`. Never run from the test suite: it measures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chamber.controller.core.inputs import (
    CloseVote,
    CreateVote,
    GrantNext,
    Input,
    MicRequest,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    PublishVote,
    RevokeFloor,
    Tick,
    VoteKeyPressed,
    to_record,
)
from chamber.controller.journal import Journal, JournalWriter, verify

RESULTS = Path(__file__).parent / "results" / "journal.json"
SEATS = 500
VOTES = 300


def _press(i: int) -> dict[str, Any]:
    return to_record(VoteKeyPressed(at=1000.0 + i / 1000, seat=1 + i % 4096, key=1 + i % 3))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _without_head_file(journal: Journal) -> None:
    """For the comparison only: the journal's commits skip their head file write."""
    journal._head_file.write = lambda head: None  # type: ignore[method-assign]


async def burst(directory: Path, size: int = 4096, rounds: int = 5) -> dict[str, Any]:
    latencies: list[float] = []
    commits = 0
    records = 0
    wall = 0.0
    for r in range(rounds):
        with Journal.open(directory / f"burst-{r}.journal") as journal:
            async with JournalWriter(journal) as writer:

                async def one(i: int, w: JournalWriter = writer) -> None:
                    started = time.perf_counter()
                    await w.submit(_press(i))
                    latencies.append(time.perf_counter() - started)

                started = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(size)))
                wall += time.perf_counter() - started
                commits += writer.commits
                records += writer.records
    return {
        "submits_per_burst": size,
        "rounds": rounds,
        "commits_per_burst": commits / rounds,
        "records_per_commit": round(records / commits, 1),
        "burst_wall_ms": _ms(wall / rounds),
        "commits_per_s": round(commits / wall, 1),
        "records_per_s": round(records / wall),
        "latency_p50_ms": _ms(_percentile(latencies, 0.50)),
        "latency_p99_ms": _ms(_percentile(latencies, 0.99)),
        "latency_max_ms": _ms(max(latencies)),
    }


async def sustained(
    directory: Path, producers: int = 64, each: int = 200, *, head_file: bool = True
) -> dict[str, Any]:
    latencies: list[float] = []
    with Journal.open(directory / f"sustained-{head_file}.journal") as journal:
        if not head_file:
            _without_head_file(journal)
        async with JournalWriter(journal) as writer:

            async def producer(p: int) -> None:
                for k in range(each):
                    started = time.perf_counter()
                    await writer.submit(_press(p * each + k))
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(producer(p) for p in range(producers)))
            wall = time.perf_counter() - started
            commits, records = writer.commits, writer.records
    return {
        "producers": producers,
        "records": records,
        "commits": commits,
        "records_per_commit": round(records / commits, 1),
        "commits_per_s": round(commits / wall, 1),
        "records_per_s": round(records / wall),
        "latency_p50_ms": _ms(_percentile(latencies, 0.50)),
        "latency_p99_ms": _ms(_percentile(latencies, 0.99)),
    }


async def single(directory: Path, count: int = 500, *, head_file: bool = True) -> dict[str, Any]:
    latencies: list[float] = []
    with Journal.open(directory / f"single-{head_file}.journal") as journal:
        if not head_file:
            _without_head_file(journal)
        async with JournalWriter(journal) as writer:
            for i in range(count):
                started = time.perf_counter()
                await writer.submit(_press(i))
                latencies.append(time.perf_counter() - started)
    return {
        "submits": count,
        "commits_per_s": round(count / sum(latencies), 1),
        "latency_p50_ms": _ms(_percentile(latencies, 0.50)),
        "latency_p99_ms": _ms(_percentile(latencies, 0.99)),
    }


def day_of_sitting(seed: int = 7) -> Iterator[Input]:
    """A plausible full day: roll-in, 300 votes with changes of mind, debate between votes."""
    rng = random.Random(seed)
    t = 0.0

    def at() -> float:
        nonlocal t
        t += rng.uniform(0.001, 0.05)
        return round(t, 3)

    yield OpenSitting(at=at(), sitting_id="HĐND-2026-07", title="Kỳ họp thứ bảy, HĐND tỉnh")
    for seat in range(1, SEATS + 1):
        yield PresenceChanged(at=at(), seat=seat, present=True, card=f"thẻ-{seat:04d}")
    for v in range(VOTES):
        vote_id = f"NQ-{v + 1:03d}"
        yield CreateVote(at=at(), vote_id=vote_id, title=f"Nghị quyết số {v + 1}: tán thành?")
        yield OpenVote(at=at(), vote_id=vote_id)
        for seat in range(1, SEATS + 1):
            yield VoteKeyPressed(at=at(), seat=seat, key=rng.choice((1, 1, 1, 2, 3)))
            if rng.random() < 0.2:  # a change of mind before the close
                yield VoteKeyPressed(at=at(), seat=seat, key=rng.choice((1, 2, 3)))
        for _ in range(12):
            yield Tick(at=at())
        yield CloseVote(at=at(), vote_id=vote_id)
        yield PublishVote(at=at(), vote_id=vote_id)
        # Debate before the next vote, and delegates stepping out and back.
        for _ in range(rng.randint(4, 16)):
            yield MicRequest(at=at(), seat=rng.randint(1, SEATS))
            yield GrantNext(at=at())
            yield Tick(at=at())
            yield RevokeFloor(at=at())
        for _ in range(rng.randint(0, 6)):
            seat = rng.randint(1, SEATS)
            yield PresenceChanged(at=at(), seat=seat, present=False)
            yield PresenceChanged(at=at(), seat=seat, present=True)


def replay(directory: Path) -> dict[str, Any]:
    path = directory / "day.journal"
    started = time.perf_counter()
    with Journal.open(path) as journal:
        batch: list[dict[str, Any]] = []
        for inp in day_of_sitting():
            batch.append(to_record(inp))
            if len(batch) == 4096:
                journal.append_batch(batch)
                batch.clear()
        journal.append_batch(batch)
        written = journal.head.seq
    build_s = time.perf_counter() - started
    size = path.stat().st_size

    with Journal.open(path) as journal:
        started = time.perf_counter()
        count = sum(1 for _ in journal.records())
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        inputs = sum(1 for _ in journal.replay_inputs())
        inputs_s = time.perf_counter() - started
    assert count == inputs == written
    started = time.perf_counter()
    report = verify(path)
    verify_s = time.perf_counter() - started
    assert report.ok, report
    return {
        "records": written,
        "file_mb": round(size / 1e6, 1),
        "write_s": round(build_s, 3),
        "read_and_decode_json_s": round(read_s, 3),
        "read_decode_and_rebuild_inputs_s": round(inputs_s, 3),
        "verify_chain_s": round(verify_s, 3),
    }


async def head_file_cost(directory: Path, rounds: int = 3) -> dict[str, Any]:
    """Single submits and the sustained load with and without the head file, interleaved so
    that both see the same disk and the same neighbours; medians of the rounds."""
    runs: dict[str, list[dict[str, Any]]] = {
        "single": [],
        "single_off": [],
        "sus": [],
        "sus_off": [],
    }
    for r in range(rounds):
        d = directory / f"head-{r}"
        d.mkdir()
        runs["single"].append(await single(d))
        runs["single_off"].append(await single(d, head_file=False))
        runs["sus"].append(await sustained(d))
        runs["sus_off"].append(await sustained(d, head_file=False))

    def med(key: str, field: str) -> float:
        return float(statistics.median(run[field] for run in runs[key]))

    on, off = med("single", "latency_p50_ms"), med("single_off", "latency_p50_ms")
    return {
        "rounds": rounds,
        "single_p50_ms": on,
        "single_p50_ms_without_head_file": off,
        "single_p99_ms": med("single", "latency_p99_ms"),
        "single_p99_ms_without_head_file": med("single_off", "latency_p99_ms"),
        "single_commits_per_s": med("single", "commits_per_s"),
        "single_commits_per_s_without_head_file": med("single_off", "commits_per_s"),
        "single_ratio": round(on / off, 2),
        "sustained_records_per_s": med("sus", "records_per_s"),
        "sustained_records_per_s_without_head_file": med("sus_off", "records_per_s"),
        "sustained_p99_ms": med("sus", "latency_p99_ms"),
        "sustained_p99_ms_without_head_file": med("sus_off", "latency_p99_ms"),
    }


async def main_async(directory: Path) -> dict[str, Any]:
    return {
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
        },
        "burst_4096": await burst(directory),
        "sustained_64_producers": await sustained(directory),
        "single_submit": await single(directory),
        "head_file_cost": await head_file_cost(directory),
        "replay_day": replay(directory),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, help="where to write the journals (default: temp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        results = asyncio.run(main_async(Path(d)))
    for section, figures in results.items():
        print(f"{section}:")
        for name, value in figures.items():
            print(f"  {name:36} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
