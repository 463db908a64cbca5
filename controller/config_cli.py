"""`chamber config check FILE` and `chamber config generate PROFILE|--seats N`."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="validate a hall file and summarise it")
    check.add_argument("file", type=Path)
    gen = sub.add_parser("generate", help="write a generated hall file")
    what = gen.add_mutually_exclusive_group(required=True)
    what.add_argument("--profile", choices=["vn-council", "assembly-500", "hall-4096"])
    what.add_argument("--seats", type=int, help="a hall of N seats, all IP units")
    what.add_argument(
        "--demo-seats",
        type=int,
        metavar="N",
        help="the demo's council of N seats on every transport (RTU, Modbus TCP, IP)",
    )
    gen.add_argument(
        "--seed", type=int, default=1, help="seed of the generated names (--demo-seats)"
    )
    gen.add_argument("--language", choices=["vi", "en"], default="en")
    gen.add_argument("--out", type=Path, help="output file (default: standard output)")


def run(args: argparse.Namespace) -> int:
    from chamber.controller.config import MAX_SEATS, ConfigError, load_config
    from chamber.controller.hallgen import DEMO_MIN_SEATS, PROFILES, demo_spec, generate, sized

    if args.action == "check":
        try:
            cfg = load_config(args.file)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        hall = cfg.hall
        kinds = Counter(ln.kind.value for ln in cfg.lines)
        ip = sum(1 for u in cfg.units if u.ip)
        print(f"{hall.body.name}: {hall.body.members} members, {len(hall.delegates)} delegates")
        print(f"  {len(hall.seats)} seats; {ip} IP units")
        for kind, count in sorted(kinds.items()):
            print(f"  {count} {kind} line(s)")
        print(f"  vote rule: {hall.policies.vote.rule}; language: {hall.language.value}")
        print(f"  broker: {'embedded' if cfg.broker.embedded else cfg.broker.host}")
        return 0

    if args.seats is not None and not 1 <= args.seats <= MAX_SEATS:
        print(f"error: --seats must be between 1 and {MAX_SEATS}", file=sys.stderr)
        return 2
    if args.demo_seats is not None:
        if not DEMO_MIN_SEATS <= args.demo_seats <= MAX_SEATS:
            print(
                f"error: --demo-seats must be between {DEMO_MIN_SEATS} and {MAX_SEATS}",
                file=sys.stderr,
            )
            return 2
        spec = demo_spec(args.demo_seats, args.seed)
    elif args.profile:
        spec = PROFILES[args.profile]
    else:
        spec = sized(args.seats, args.language)
    text = generate(spec)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
