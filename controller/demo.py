"""`chamber demo`: the demo sitting.

`chamber demo --script` runs a scripted sitting of the Vietnamese council through the meeting
core alone and prints it.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--script",
        action="store_true",
        help="run the scripted sitting through the meeting core alone, and print it",
    )


def run(args: argparse.Namespace) -> int:
    from controller.demo_script import run_script

    run_script(sys.stdout)
    return 0
