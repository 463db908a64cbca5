"""`chamber console --url URL --token TOKEN`: the operator console of a running daemon.

The token may come from the CHAMBER_TOKEN environment variable instead, so that it does not show
in the process list. The technician's access panel shows the display wall's address from
CHAMBER_WALL_URL and the tokens from CHAMBER_<ROLE>_TOKEN (chair, secretary, technician,
observer) when they are set (the daemon keeps only their hashes; `chamber demo` sets them).
Nothing here talks to hardware or to the meeting core.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chamber.console.technician import Access

DEFAULT_URL = "http://127.0.0.1:8700"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("CHAMBER_URL", DEFAULT_URL),
        help=f"the daemon's address (default: $CHAMBER_URL or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CHAMBER_TOKEN"),
        help="a chair or technician token (default: $CHAMBER_TOKEN)",
    )
    parser.add_argument(
        "--ca",
        default=os.environ.get("CHAMBER_CA"),
        help="for https://: the hall CA's certificate to trust (PEM; default: $CHAMBER_CA, "
        "else the system's CAs)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("error: a token is required (--token or CHAMBER_TOKEN)", file=sys.stderr)
        return 2
    if not str(args.url).startswith(("http://", "https://")):
        print(
            f"error: --url must start with http:// or https://, not {args.url!r}", file=sys.stderr
        )
        return 2
    if args.ca is not None and not os.path.isfile(args.ca):
        print(f"error: --ca {args.ca}: no such file", file=sys.stderr)
        return 2
    from chamber.console.app import ChamberConsole
    from chamber.console.client import ApiClient

    access = access_from(args.url, args.token, os.environ)

    async def main() -> None:
        await ChamberConsole(
            ApiClient(args.url, args.token, ca_file=args.ca), access=access
        ).run_async()

    import asyncio

    asyncio.run(main())
    return 0


ROLES = ("chair", "secretary", "technician", "observer")


def access_from(url: str, token: str, env: Mapping[str, str]) -> Access:
    """What the access panel shows: the daemon, the wall, and the tokens the console knows
    (its own, and those its environment gives, by role)."""
    from chamber.console.technician import Access

    tokens = {"console": token}
    for role in ROLES:
        given = env.get(f"CHAMBER_{role.upper()}_TOKEN")
        if given and given != token:
            tokens[role] = given
    return Access(url.rstrip("/"), env.get("CHAMBER_WALL_URL") or None, tokens)
