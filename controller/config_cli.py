"""`chamber config check FILE`, `chamber config generate PROFILE|--seats N`, and the delegate
list: `chamber config import-delegates SHEET --hall FILE [--write]`, `export-delegates`."""

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
    imp = sub.add_parser(
        "import-delegates",
        help="take the delegates and seating from a CSV or XLSX sheet: show the diff, --write it",
    )
    imp.add_argument("sheet", type=Path, help="the delegate list (.csv, or .xlsx)")
    imp.add_argument("--hall", type=Path, required=True, help="the hall file to update")
    imp.add_argument("--sheet", dest="sheet_name", help="the workbook's sheet (default: the first)")
    imp.add_argument("--write", action="store_true", help="write the hall file (default: show)")
    imp.add_argument(
        "--language", choices=["vi", "en"], help="language of the output (default: the hall's)"
    )
    exp = sub.add_parser("export-delegates", help="write a hall's delegate list as CSV or XLSX")
    exp.add_argument("hall", type=Path)
    exp.add_argument("--out", type=Path, required=True, help="output file (.csv or .xlsx)")
    exp.add_argument("--language", choices=["vi", "en"], help="headers (default: the hall's)")


def run(args: argparse.Namespace) -> int:
    from chamber.controller.config import MAX_SEATS, ConfigError, load_config
    from chamber.controller.hallgen import DEMO_MIN_SEATS, PROFILES, demo_spec, generate, sized

    if args.action in ("import-delegates", "export-delegates"):
        return _delegates(args)
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


def _delegates(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from chamber.controller.config import ConfigError, load_config
    from chamber.controller.core.model import Language
    from chamber.controller.roster import (
        RosterError,
        apply_plan,
        export_rows,
        plan_import,
        read_sheet,
        render_diff,
        write_rows,
    )

    hall_path: Path = args.hall
    try:
        cfg = load_config(hall_path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    language = Language(args.language) if args.language else cfg.hall.language
    if args.action == "export-delegates":
        try:
            write_rows(export_rows(cfg.hall, language), args.out)
        except OSError as exc:
            print(f"error: {args.out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"{args.out}: {len(cfg.hall.delegates)} delegates")
        return 0
    text = hall_path.read_text(encoding="utf-8")
    try:
        sheet = read_sheet(args.sheet, args.sheet_name)
        plan = plan_import(text, sheet, str(hall_path))
        new_text = apply_plan(text, plan, str(hall_path)) if args.write else text
    except RosterError as exc:
        print(f"error: {exc.text(language)}", file=sys.stderr)
        return 2
    vi = language is Language.VI
    columns = ", ".join(sheet.columns.values())
    head = f"{sheet.source}: {plan.entries} " + ("đại biểu" if vi else "delegates")
    head += (f" (dòng tiêu đề {sheet.header_row}; cột: " if vi else
             f" (header row {sheet.header_row}; columns: ") + columns  # fmt: skip
    if sheet.ignored:
        head += ("; bỏ qua: " if vi else "; ignored: ") + ", ".join(sheet.ignored)
    print(head + ")")
    print(render_diff(plan.diff, language))
    if not args.write:
        print(
            f"chưa ghi: chạy lại với --write để ghi {hall_path}"
            if vi
            else f"not written: run again with --write to write {hall_path}"
        )
        return 0
    if plan.diff.empty:
        return 0
    # Write beside the file, then rename over it: a crash leaves the old file or the new one.
    fd, tmp = tempfile.mkstemp(dir=hall_path.parent, prefix=f".{hall_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(new_text)
        os.replace(tmp, hall_path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        print(f"error: {hall_path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        load_config(hall_path)
    except ConfigError as exc:  # apply_plan validated the text; this reads back what was written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"đã ghi {hall_path}" if vi else f"written: {hall_path}")
    return 0
