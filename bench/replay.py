"""Figure 5: restart and replay of a journal holding a full day's sitting.

The day is `bench.journal_bench.day_of_sitting`: a 500-seat hall rolls in, then 300 votes with
changes of mind, debate on the floor between votes, delegates stepping out and back (about
200,000 records). It is journaled once, then the restart is timed as the daemon does it: the
check of the whole chain before anything starts (`controller.daemon.check_journal`), then
`Journal.open` + `Runtime.replay` (every record read, checked against the chain, decoded,
rebuilt as an input and handed to a fresh meeting core). The split is measured on the same
journal: reading + checking + JSON decoding, the same read without the chain check (so the
check's share of the replay is measured, not guessed), rebuilding the inputs, and the core
alone (on inputs already rebuilt). Medians of repetitions.

What the journal's integrity adds to a start is the check before it plus the chain check inside
the replay's read; its target is at most 1 s for the day's ~200,000 records, and its ratio to the
replay without any check is printed beside it.

Run alone with `python -m bench.replay [--quick]`. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, median, report, sized_config, temp_dir, write_json
from bench.journal_bench import SEATS, VOTES, day_of_sitting
from chamber.controller.config import HallConfig
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import Input, from_record, to_record
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.daemon import check_journal
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime

NUMBER = 5
TARGET_S = 2.0
CHECK_TARGET_S = 1.0


def accepted(config: HallConfig, inputs: list[Input]) -> list[Input]:
    """The inputs a live core accepts: the runtime never journals a refused command."""
    core = MeetingCore(config.hall)
    kept: list[Input] = []
    for inp in inputs:
        try:
            core.handle(inp)
        except CommandRejected:
            continue
        kept.append(inp)
    return kept


def build(path: Path, inputs: list[Input]) -> int:
    with Journal.open(path) as journal:
        for start in range(0, len(inputs), 4096):
            journal.append_batch([to_record(i) for i in inputs[start : start + 4096]])
        return journal.head.seq


def restart(config: HallConfig, path: Path) -> tuple[float, float, int, dict[str, Any]]:
    """Seconds of the check before the start, and of Journal.open + Runtime.replay, as the
    daemon's start does them."""
    gc.collect()
    started = time.perf_counter()
    check_journal(path)
    check_s = time.perf_counter() - started
    started = time.perf_counter()
    journal = Journal.open(path)
    try:
        runtime = Runtime(config, journal)
        count = runtime.replay()
        elapsed = time.perf_counter() - started
        state = runtime.core.snapshot()
    finally:
        journal.close()
    return check_s, elapsed, count, state


def read_unchecked(path: Path) -> float:
    """Seconds to read and decode every record with no chain check: the floor of the read."""
    gc.collect()
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        started = time.perf_counter()
        # Kept in a list, as the checked read beside it keeps them: the same garbage collector
        # work on both sides.
        records: list[Any] = []
        cur = conn.execute("SELECT seq, body FROM records ORDER BY seq")
        while rows := cur.fetchmany(1024):
            records.extend(json.loads(body) for _seq, body in rows)
        return time.perf_counter() - started
    finally:
        conn.close()


def split(config: HallConfig, path: Path) -> dict[str, float]:
    """The same restart cut in three: read + decode JSON, rebuild inputs, the core alone."""
    with Journal.open(path) as journal:
        gc.collect()
        started = time.perf_counter()
        records = [record for _, record in journal.records()]
        read_s = time.perf_counter() - started
    unchecked_s = read_unchecked(path)
    started = time.perf_counter()
    inputs = [from_record(r) for r in records]
    rebuild_s = time.perf_counter() - started
    core = MeetingCore(config.hall)
    handle = core.handle
    started = time.perf_counter()
    for inp in inputs:
        with contextlib.suppress(CommandRejected):
            handle(inp)
    core_s = time.perf_counter() - started
    return {
        "read_check_and_decode_s": read_s,
        "read_and_decode_unchecked_s": unchecked_s,
        "rebuild_inputs_s": rebuild_s,
        "core_s": core_s,
    }


def measure(*, quick: bool = False) -> Figure:
    repetitions = 1 if quick else 5
    with temp_dir("replay") as tmp:
        directory = Path(tmp)
        config = sized_config(SEATS, directory)
        inputs = list(day_of_sitting())
        if quick:
            inputs = inputs[: len(inputs) // 20]
        inputs = accepted(config, inputs)
        path = directory / "day.journal"
        records = build(path, inputs)
        size_mb = path.stat().st_size / 1e6
        runs = [restart(config, path) for _ in range(repetitions)]
        checks = [r[0] for r in runs]
        replays = [r[1] for r in runs]
        seconds = [r[0] + r[1] for r in runs]
        replayed = runs[0][2]
        state = runs[0][3]
        splits = [split(config, path) for _ in range(repetitions)]
    value = median(seconds)
    parts = {k: round(median([s[k] for s in splits]), 3) for k in splits[0]}
    check_s = median(checks)
    in_read_s = max(
        0.0,
        median([s["read_check_and_decode_s"] - s["read_and_decode_unchecked_s"] for s in splits]),
    )
    integrity_s = check_s + in_read_s
    unchecked_replay_s = median(replays) - in_read_s
    votes = state.get("votes", [])
    return Figure(
        number=NUMBER,
        name=f"restart (check + replay) of a day ({records:,} records, {SEATS} seats)",
        value=round(value, 3),
        unit="s",
        target=f"<= {TARGET_S:g} s",
        meets=value <= TARGET_S,
        details={
            "records": records,
            "replayed": replayed,
            "votes_planned": VOTES if not quick else None,
            "votes_rebuilt": len(votes) if isinstance(votes, list | dict) else None,
            "file_mb": round(size_mb, 1),
            "repetitions": repetitions,
            "seconds": [round(s, 3) for s in seconds],
            "check_before_start_s": round(check_s, 3),
            "open_and_replay_s": round(median(replays), 3),
            "chain_check_in_replay_s": round(in_read_s, 3),
            "integrity_added_s": round(integrity_s, 3),
            "integrity_target": f"<= {CHECK_TARGET_S:g} s",
            "integrity_meets": integrity_s <= CHECK_TARGET_S,
            "integrity_ratio_to_unchecked_replay": round(integrity_s / unchecked_replay_s, 3),
            "records_per_s": round(records / value),
            "split_medians_s": parts,
            "quick": quick,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a twentieth of the day")
    args = parser.parse_args(argv)
    figure = measure(quick=args.quick)
    write_json("replay", figure.to_json())
    report(figure)
    d = figure.details
    print(
        f"  journal integrity: {d['integrity_added_s']:g} s added to the start"
        f" (check before it {d['check_before_start_s']:g} s, chain check in the replay"
        f" {d['chain_check_in_replay_s']:g} s), target {d['integrity_target']}:"
        f" {'meets' if d['integrity_meets'] else 'MISSES'};"
        f" ratio to the unchecked replay {d['integrity_ratio_to_unchecked_replay']:.2f}"
    )
    print(f"  split: {d['split_medians_s']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
