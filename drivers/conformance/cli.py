"""`chamber conformance keypad|mic|mqtt`: run a conformance kit against one unit.

One pass/fail line per contract section on standard output (or the JSON report with
--json); exit status 0 when no section failed, 1 when one did, 2 when the kit could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chamber.drivers.conformance import keypad as keypad_kit
from chamber.drivers.conformance.bench import PromptBench
from chamber.drivers.conformance.report import ConformanceError, Report
from chamber.protocols import keypad as kp


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="contract", required=True, metavar="CONTRACT")
    k = sub.add_parser("keypad", help="a keypad on an RS-485 line (keypad_modbus.md)")
    k.add_argument("--port", required=True, help="the serial device the unit is on")
    k.add_argument("--baud", type=int, default=115200, choices=kp.BAUD_RATES)
    k.add_argument("--parity", choices=("even", "none"), default="even")
    k.add_argument("--stop-bits", type=int, choices=(1, 2), default=None)
    k.add_argument("--address", type=int, default=kp.FACTORY_ADDRESS, help="the unit's address")
    k.add_argument(
        "--other-address",
        type=int,
        default=None,
        help="an address no unit has (checked silent; the unit moves there and back in §3.8)",
    )
    k.add_argument("--slack-ms", type=float, default=keypad_kit.TURNAROUND_SLACK_S * 1000)
    _common(k)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the JSON report instead")
    p.add_argument(
        "--no-hands", action="store_true", help="skip the sections that need hands on the unit"
    )
    p.add_argument("--step-timeout", type=float, default=60.0, help="seconds for each step")
    p.add_argument("--language", choices=("en", "vi"), default="en", help="of the prompts")


async def _keypad(args: argparse.Namespace) -> Report:
    fmt = kp.line_format(args.parity, args.stop_bits)
    wire = keypad_kit.KeypadWire(args.port, args.baud, fmt)
    bench = None if args.no_hands else PromptBench(args.step_timeout, args.language)
    kit = keypad_kit.KeypadKit(
        wire,
        args.address,
        bench=bench,
        other_address=args.other_address,
        step_timeout_s=args.step_timeout,
        turnaround_slack_s=args.slack_ms / 1000,
    )
    return await kit.run()


def run(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(_keypad(args))
    except (ConformanceError, kp.KeypadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(report.dumps())
    else:
        for line in report.lines():
            print(line)
    return 0 if report.passed else 1
