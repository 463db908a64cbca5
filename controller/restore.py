"""`chamber restore BACKUP --data DIR`: check a backup made by `chamber backup`, then put it in
place (`controller.backup.restore_backup`)."""

from __future__ import annotations

from chamber.controller.backup import add_restore_arguments as add_arguments
from chamber.controller.backup import run_restore as run

__all__ = ["add_arguments", "run"]
