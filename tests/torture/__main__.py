"""`python -m tests.torture`: the long torture run (`make torture`); see docs/reliability.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.torture.harness import Figures, Options, run


async def _run_until_signalled(options: Options) -> Figures:
    """`run`, cancelled by SIGTERM or SIGHUP as by Ctrl-C: the harness then stops the
    daemon, the broker and the simulator it started (a plain SIGTERM would end this process
    at once and leave them running)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)
    return await run(options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.torture", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs of the daemon")
    parser.add_argument("--broker-kills", type=int, default=10, help="SIGKILLs of the broker")
    parser.add_argument("--seats", type=int, default=48, help="seats in the hall (at least 8)")
    parser.add_argument("--votes", type=int, default=0, help="votes (default: kills / 4)")
    parser.add_argument("--report", type=Path, help="write the summary as JSON here")
    parser.add_argument("--keep", type=Path, help="keep the run's files in this directory")
    args = parser.parse_args(argv)
    if args.seats < 8 or args.kills < 0 or args.broker_kills < 0 or args.votes < 0:
        parser.error("--seats is at least 8; counts cannot be negative")
    options = Options(
        seed=args.seed,
        kills=args.kills,
        broker_kills=args.broker_kills,
        seats=args.seats,
        votes=args.votes,
        report=args.report,
        keep=args.keep,
    )
    try:
        figures = asyncio.run(_run_until_signalled(options))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print(f"stopped before the end (seed {options.seed}); nothing was judged")
        return 130
    print(figures.summary())
    if args.report is not None:
        args.report.write_text(
            json.dumps(figures.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    if figures.failed:
        for line in figures.details[:50]:
            print(f"  {line}")
        print(f"FAILED with seed {options.seed}; replay it with:\n  {options.command()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
