"""`python -m chamber.controller.api.refusals_doc [FILE]`: the table of every refusal code
(docs/refusals.md), printed, or put between the markers of FILE."""

from __future__ import annotations

import sys

from chamber.controller.api.problems import refusals_markdown, write_doc


def main(argv: list[str]) -> int:
    if argv:
        write_doc(argv[0])
    else:
        sys.stdout.write(refusals_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
