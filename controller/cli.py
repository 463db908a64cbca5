"""The `chamber` command and its subcommands.

Each subcommand lives in its own module, imported only when that subcommand runs, so that
`chamber sim` does not load the API server and `chamber console` does not load the drivers.
The daemon's own subcommands are listed here; the others (`demo`, `sim`, `console`, which live
beside the daemon's package, not in it) are found through the `chamber.commands` entry points
(pyproject.toml), as python-can finds its interfaces: this package names none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from types import ModuleType

ENTRY_POINTS = "chamber.commands"

# The daemon's own subcommands: name -> (module, help). Each module (and each entry point's)
# has `add_arguments(parser)` and `run(args) -> int`.
BUILTIN: dict[str, tuple[str, str]] = {
    "config": ("chamber.controller.config_cli", "check a hall configuration, or generate one"),
    "tls": ("chamber.controller.tls_cli", "make the hall's CA and its servers' certificates"),
    "run": ("chamber.controller.daemon", "run the daemon for a hall"),
    "users": ("chamber.controller.users_cli", "the operators' accounts: add, list, remove ..."),
    "audit": ("chamber.controller.audit_cli", "check a journal or a signed result"),
    "export": ("chamber.controller.exports", "export results, participation or minutes"),
    "sitting": ("chamber.controller.sitting_cli", "check or load a sitting prepared in advance"),
    "report": ("chamber.controller.report", "each delegate's record across the term"),
    "install": ("chamber.controller.install", "install chamber as a systemd service (as root)"),
    "uninstall": ("chamber.controller.uninstall", "remove the service, keep the hall's data"),
    "bundle": ("chamber.controller.bundle", "build an offline installer for a hall PC"),
    "commission": ("chamber.controller.commission", "find a line's units, address them, map them"),
    "conformance": ("chamber.drivers.conformance.cli", "check a unit against its contract"),
    "backup": ("chamber.controller.backup", "a verified copy of the journals, taken live"),
    "restore": ("chamber.controller.restore", "check a backup, then put it in place"),
    "standby": ("chamber.controller.standby", "follow the active controller's journal"),
}
# What `chamber --help` says of the commands found through entry points (their modules are
# not imported to list them).
HELP = {
    "demo": "run the demo sitting",
    "sim": "run a simulated hall for tests, the demo and training",
    "console": "the operator console of a running daemon",
    "training": "a simulated hall, marked as training, for operators to practise on",
}
ORDER = (
    "demo",
    "training",
    "config",
    "tls",
    "commission",
    "conformance",
    "run",
    "users",
    "sitting",
    "sim",
    "console",
    "audit",
    "export",
    "report",
    "install",
    "uninstall",
    "bundle",
    "backup",
    "restore",
    "standby",
)


def subcommands() -> dict[str, tuple[str, str]]:
    """Every subcommand: name -> (module, help), the entry points' after the built-in ones."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINTS):
        found.setdefault(ep.name, (ep.value, HELP.get(ep.name, f"(from {ep.value})")))
    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(ORDER)), kv[0])))


def _load(module_name: str) -> ModuleType:
    return importlib.import_module(module_name)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the `selected` subcommand's module is imported and given its options."""
    parser = argparse.ArgumentParser(
        prog="chamber",
        description="chamber: the controller for a council hall's voting and microphones",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in subcommands().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module = _load(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(selected).parse_args(argv)
    try:
        code: int = args._module.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`chamber ... | head`): nothing more to say, and nowhere to say it.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        # No traceback reaches an operator; CHAMBER_TRACEBACK=1 shows it for a bug report.
        if os.environ.get("CHAMBER_TRACEBACK") == "1":
            raise
        text = " ".join(str(exc).split())[:500]
        print(f"error: unexpected {type(exc).__name__}: {text}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
