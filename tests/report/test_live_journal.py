"""Looking for journals never costs the live journal its write-ahead log.

The daemon serves the secretary's term report from the process that writes the journal. A
plain open and close of the journal file in that process dropped the writer's POSIX locks on
it; a second process (a report or an audit run beside the daemon) that then opened and closed
the journal read-write took it for unused, checkpointed it and deleted its write-ahead log, and
every commit after that was lost when the writer was killed. Here the writer is a real process
that is SIGKILLed, and the journal is counted after it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from chamber.controller import report
from chamber.controller.journal import Journal

WRITER = """
import sys
from pathlib import Path
from chamber.controller import report
from chamber.controller.journal import Journal

path = Path(sys.argv[1])
journal = Journal.open(path)
for n in range(20):
    journal.append({"kind": "test", "n": n})
# What the secretary's page does in the daemon's process: find the journals of its directory.
print(len(report.find_journals([path.parent])), flush=True)
sys.stdin.readline()  # another process has opened and closed the journal meanwhile
for n in range(20, 40):
    journal.append({"kind": "test", "n": n})
print("committed", flush=True)
sys.stdin.readline()  # killed here
"""


def test_finding_journals_beside_their_writer_keeps_its_commits_across_a_kill(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hall.journal"
    (tmp_path / "tokens.json").write_text("{}", "utf-8")  # not a journal: passed over
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdin is not None
        assert writer.stdout is not None
        try:
            # The live journal is found, its header read as its write-ahead log has it.
            assert writer.stdout.readline().strip() == "1"
            other = sqlite3.connect(path)  # read-write, as another tool would open it
            assert other.execute("SELECT count(*) FROM records").fetchone() == (20,)
            other.close()
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "committed"
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=60)
    assert path.with_name(path.name + "-wal").exists()
    with Journal.open(path) as journal:
        assert journal.head.seq == 40
        assert [r["n"] for _, r in journal.records()] == list(range(40))
    assert report.find_journals([tmp_path]) == [path]
