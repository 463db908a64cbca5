"""The cold standby: the active controller's journal, shipped as it is committed to a second PC,
and `chamber standby` on that PC, which follows it.

The shipping stream is a small TCP protocol of JSON lines (`chamber-ship/1`):

1. the active controller says hello: the protocol, the journal's id and file name, a nonce;
2. the standby answers with HMAC-SHA256(key, nonce) under the key both hold (`standby.key`,
   made by the active controller, copied to the standby once at set-up) and its own head
   (`after_seq`, `after_hash`); the active controller checks both (another key, or a head
   that is not in its journal, is refused with one line);
3. the active controller sends every committed record after that head (`seq`, `body`,
   `prev`, `hash`, as its journal stores them) and the id of every sealed secret vote; the
   standby checks each record's chain link on arrival (`ShippedRecordError` otherwise: one
   log line, the record refused, the standby stops), appends it to its own copy of the
   journal (same id, same chain, its own head file) and acknowledges its head once durable.

What travels is the chain only: the records a journal holds at rest, which hold no seat->choice
link of a secret vote. The encrypted presses of an open secret vote and its key never leave
the active controller, so a takeover during a secret vote annuls that vote, with a record
saying why, as a restore does.

The active controller's commits wait for the standby's acknowledgement before they are
confirmed to the units (`Shipper.replicated`, bounded by `ack_timeout_s`): a press whose LED
lit is on both disks. A standby that is absent or too slow is waited for no longer (one log
line) until it has caught up again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chamber.controller.journal import (
    Journal,
    JournalError,
    SealVote,
    canonical_json,
    chain_hash,
    genesis_hash,
)

log = logging.getLogger("chamber.standby")

PROTOCOL = "chamber-ship/1"
KEY_FILE = "standby.key"
LOCK_FILE = "standby.lock"
MAX_LINE = 4 * 1024 * 1024  # a record line; the journal's records are far smaller
BATCH_ROWS = 2000

# The reason a takeover journals for a secret vote still open in the shipped journal.
TAKEOVER_ANNUL_REASON = {
    "vi": (
        "Máy dự phòng tiếp quản ({backup}) khi biểu quyết kín đang mở: phiếu kín của biểu "
        "quyết đang mở không được chuyển sang máy dự phòng, nên biểu quyết bị hủy"
    ),
    "en": (
        "the standby took over ({backup}) while the secret vote was open: the secret ballots "
        "of an open vote are never shipped to the standby, so the vote is annulled"
    ),
}


class StandbyError(JournalError):
    """The standby cannot follow or take over; one line says why."""


class ShippedRecordError(StandbyError):
    """A shipped record does not chain onto the standby's journal (changed, reordered, or of
    another journal): refused, and the standby stops."""


class TakeoverRefused(StandbyError):
    """A takeover must not happen (the old controller still answers, or the standby still
    follows it)."""


# --- the key -------------------------------------------------------------------------------


def load_or_create_key(path: Path) -> bytes:
    """The shipping key (64 hex digits in a 0600 file), made if absent."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return load_key(path)


def load_key(path: Path) -> bytes:
    try:
        return _parse_key(path, path.read_text("ascii").strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise StandbyError(f"{path}: cannot read the standby key: {exc}") from exc


def _parse_key(path: Path, text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise StandbyError(f"{path}: not a standby key (64 hex digits)")
    return key


def _mac(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode("ascii"), hashlib.sha256).hexdigest()


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: not HOST:PORT")
    return host.strip("[]"), int(port)


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await reader.readline()
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise StandbyError(f"not a {PROTOCOL} line: {exc}") from None
    if not isinstance(message, dict):
        raise StandbyError(f"not a {PROTOCOL} message")
    return message


# --- the active controller's side ----------------------------------------------------------


def _read_after(
    journal: Path, after: int, sealed: set[str]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Committed records after `after`, and sealed votes not yet sent: one short read
    transaction on a connection of its own (never the writer's lock)."""
    conn = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")
        rows = conn.execute(
            "SELECT seq, body, prev_hash, hash FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, BATCH_ROWS),
        ).fetchall()
        votes = [r[0] for r in conn.execute("SELECT vote_id FROM secret_sealed")]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return rows, [v for v in votes if v not in sealed]


def _hash_at(journal: Path, journal_id: str, seq: int) -> str | None:
    if seq == 0:
        return genesis_hash(journal_id)
    conn = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT hash FROM records WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


class Shipper:
    """The active controller's shipping server: one standby at a time is followed for the
    acknowledgements (the newest to connect); each connection reads committed records only."""

    def __init__(
        self,
        journal: Journal,
        key: bytes,
        host: str,
        port: int,
        *,
        ack_timeout_s: float = 0.5,
    ) -> None:
        self.journal = journal
        self.key = key
        self.host, self.port = host, port
        self.ack_timeout_s = ack_timeout_s
        self._committed = asyncio.Event()
        self._acked = asyncio.Condition()
        self.acked = 0  # the head the current standby has on disk
        self.connected = 0  # standbys connected now
        self.lagging = False  # waited for in vain: not waited for until it catches up
        self.listening = asyncio.Event()
        self.standby_connected = asyncio.Event()  # set at each standby's connection
        self._generation = 0

    async def replicated(self, seq: int) -> None:
        """After a commit at head `seq`, before it is confirmed: until the standby holds it
        (bounded); at once with no standby connected, or one that has fallen behind."""
        self._committed.set()
        if self.connected == 0 or self.acked >= seq or self.lagging:
            return
        try:
            async with asyncio.timeout(self.ack_timeout_s), self._acked:
                await self._acked.wait_for(lambda: self.acked >= seq or self.connected == 0)
        except TimeoutError:
            self.lagging = True
            log.warning(
                "standby behind: presses are confirmed without it until it catches up",
                extra={"event": "standby-behind", "seq": seq, "acked": self.acked},
            )

    async def run(self) -> None:
        server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_LINE)
        self.port = server.sockets[0].getsockname()[1]
        self.listening.set()
        log.info(
            "shipping the journal",
            extra={"event": "shipping", "host": self.host, "port": self.port},
        )
        async with server:
            await server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        try:
            await self._follow(reader, writer, peer)
        except asyncio.CancelledError:
            pass  # the server stops: the connection with it
        except (StandbyError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            log.warning(
                "standby connection ended: %s",
                " ".join(str(exc).split())[:200] or type(exc).__name__,
                extra={"event": "standby-disconnected", "peer": peer},
            )
        finally:
            writer.close()

    async def _follow(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        nonce = secrets.token_hex(16)
        path, journal_id = self.journal.path, self.journal.journal_id
        await _send(
            writer,
            {"hello": PROTOCOL, "journal_id": journal_id, "name": path.name, "nonce": nonce},
        )
        async with asyncio.timeout(10):
            hello = await _receive(reader)
        if hello is None or not hmac.compare_digest(str(hello.get("auth")), _mac(self.key, nonce)):
            await _send(writer, {"error": "not authenticated: another standby key"})
            raise StandbyError("a standby with another key was refused")
        after, after_hash = int(hello.get("after_seq", -1)), str(hello.get("after_hash"))
        if after < 0 or await asyncio.to_thread(_hash_at, path, journal_id, after) != after_hash:
            await _send(writer, {"error": f"the standby's head (record {after}) is not ours"})
            raise StandbyError(f"a standby whose head (record {after}) is not in the journal")
        self._generation += 1
        generation = self._generation
        self.connected += 1
        self.acked, self.lagging = after, False
        self.standby_connected.set()
        log.info("standby connected", extra={"event": "standby-connected", "peer": peer})
        acks = asyncio.create_task(self._read_acks(reader, generation))
        sealed: set[str] = set()
        try:
            while not acks.done():
                self._committed.clear()
                rows, votes = await asyncio.to_thread(_read_after, path, after, sealed)
                for seq, body, prev, digest in rows:
                    writer.write(
                        json.dumps(
                            {"seq": seq, "body": body, "prev": prev, "hash": digest},
                            ensure_ascii=False,
                        ).encode("utf-8")
                        + b"\n"
                    )
                    after = seq
                for vote_id in votes:
                    writer.write(json.dumps({"sealed": vote_id}).encode("utf-8") + b"\n")
                    sealed.add(vote_id)
                await writer.drain()
                if len(rows) == BATCH_ROWS:
                    continue
                wake = asyncio.ensure_future(self._committed.wait())
                await asyncio.wait({wake, acks}, timeout=1.0, return_when="FIRST_COMPLETED")
                wake.cancel()
            acks.result()
        finally:
            acks.cancel()
            self.connected -= 1
            async with self._acked:
                self._acked.notify_all()

    async def _read_acks(self, reader: asyncio.StreamReader, generation: int) -> None:
        while (message := await _receive(reader)) is not None:
            seq = message.get("ack")
            if not isinstance(seq, int):
                raise StandbyError("a standby sent something other than an acknowledgement")
            if generation == self._generation:
                async with self._acked:
                    self.acked = max(self.acked, seq)
                    if self.lagging and self.acked >= self.journal.head.seq:
                        self.lagging = False
                        log.info("standby caught up", extra={"event": "standby-caught-up"})
                    self._acked.notify_all()


# --- the standby's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    seq: int
    body: str
    prev: str
    hash: str


def check_link(head_seq: int, head_hash: str, message: dict[str, Any]) -> Shipped:
    """A shipped record that chains onto the head (`ShippedRecordError` otherwise)."""
    try:
        record = Shipped(
            int(message["seq"]), str(message["body"]), str(message["prev"]), str(message["hash"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ShippedRecordError(f"a shipped record without its fields ({exc})") from None
    if record.seq != head_seq + 1:
        raise ShippedRecordError(
            f"record {record.seq} shipped after record {head_seq}: out of order"
        )
    if record.prev != head_hash:
        raise ShippedRecordError(
            f"record {record.seq}: its link is not the hash of record {head_seq}"
        )
    if chain_hash(record.prev, record.body) != record.hash:
        raise ShippedRecordError(f"record {record.seq}: its hash is not that of its body")
    try:
        parsed = json.loads(record.body)
        canonical = canonical_json(parsed)
    except (ValueError, JournalError) as exc:
        raise ShippedRecordError(f"record {record.seq}: not a journal record ({exc})") from None
    if canonical != record.body:
        raise ShippedRecordError(f"record {record.seq}: not in the journal's canonical form")
    return record


@contextlib.contextmanager
def standby_lock(data: Path) -> Iterator[None]:
    """Held while `chamber standby` follows into `data`: a takeover refuses while it is."""
    fd = os.open(data / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TakeoverRefused(
                f"{data}: `chamber standby` is still following into it: stop it first"
            ) from None
        yield
    finally:
        os.close(fd)


class Follower:
    """`chamber standby`: follow the active controller's journal into `data`."""

    def __init__(self, data: Path, key: bytes, host: str, port: int) -> None:
        self.data, self.key, self.host, self.port = data, key, host, port
        self.journal: Journal | None = None
        self.received = 0
        self.caught_up = asyncio.Event()  # set once a connection has sent all it had

    async def follow_once(self) -> None:
        """One connection, until it ends (`OSError`, `StandbyError`)."""
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE)
        try:
            hello = await _receive(reader)
            if hello is None or hello.get("hello") != PROTOCOL:
                raise StandbyError(f"{self.host}:{self.port} does not ship a journal")
            journal_id, name = str(hello["journal_id"]), Path(str(hello["name"])).name
            if not name.endswith(".journal"):
                raise StandbyError(f"{name!r}: not a journal's name")
            if self.journal is None:
                self.journal = Journal.open(self.data / name, journal_id=journal_id)
            elif self.journal.journal_id != journal_id:
                raise StandbyError("the active controller now ships another journal")
            journal = self.journal
            head = journal.head
            await _send(
                writer,
                {
                    "auth": _mac(self.key, str(hello["nonce"])),
                    "after_seq": head.seq,
                    "after_hash": head.hash,
                },
            )
            log.info(
                "following the active controller",
                extra={"event": "following", "from": f"{self.host}:{self.port}", "seq": head.seq},
            )
            while (message := await _receive(reader)) is not None:
                if "error" in message:
                    raise StandbyError(f"refused by the active controller: {message['error']}")
                items: list[str | SealVote] = []
                seq, last = journal.head.seq, journal.head.hash
                refused: ShippedRecordError | None = None
                while message is not None:
                    if "sealed" in message:
                        items.append(SealVote(str(message["sealed"])))
                    else:
                        try:
                            record = check_link(seq, last, message)
                        except ShippedRecordError as exc:
                            refused = exc  # the records before it are kept
                            break
                        items.append(record.body)
                        seq, last = record.seq, record.hash
                    # Whatever else has already arrived goes into the same commit.
                    if len(items) >= BATCH_ROWS or not _buffered(reader):
                        break
                    message = await _receive(reader)
                await asyncio.to_thread(journal.commit_items, items)
                if refused is not None:
                    raise refused
                if journal.head.hash != last:
                    raise ShippedRecordError(
                        f"record {seq}: the copy's head is not the shipped one"
                    )
                self.received += sum(1 for i in items if isinstance(i, str))
                await _send(writer, {"ack": journal.head.seq})
                if not _buffered(reader):
                    self.caught_up.set()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def run(self, retry_s: float = 0.5) -> None:
        """Follow until cancelled; a lost connection is tried again. A tampered record stops
        it (`ShippedRecordError`, after one log line)."""
        # A lost connection is logged once, until records arrive again.
        told, told_at = False, -1
        try:
            while True:
                try:
                    await self.follow_once()
                except ShippedRecordError as exc:
                    log.error(
                        "shipped record refused: %s",
                        exc,
                        extra={"event": "shipped-record-refused", "from": self.host},
                    )
                    raise
                except (OSError, StandbyError, asyncio.IncompleteReadError, ValueError) as exc:
                    if self.received != told_at or not told:
                        log.warning(
                            "not following: %s",
                            " ".join(str(exc).split())[:200] or type(exc).__name__,
                            extra={"event": "standby-not-following", "from": self.host},
                        )
                    told, told_at = True, self.received
                await asyncio.sleep(retry_s)  # the next attempt's pace, not a wait for a state
        finally:
            if self.journal is not None:
                self.journal.close()


def _buffered(reader: asyncio.StreamReader) -> bool:
    return b"\n" in getattr(reader, "_buffer", b"")


# --- the takeover ------------------------------------------------------------------------------


def old_controller_answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Anything accepting connections at the old controller's shipping address."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def prepare_takeover(
    data: Path, hall_file: Path, journal: Path, old: tuple[str, int]
) -> tuple[str, ...]:
    """Before the daemon starts on a standby's journal: refuse while the old controller
    answers or `chamber standby` still follows into `data`; then annul every secret vote
    still open (its ballots never left the old controller). The votes annulled."""
    from chamber.controller.backup import _annul_open_secret_votes
    from chamber.controller.journal import JournalReader

    if old_controller_answers(*old):
        raise TakeoverRefused(
            f"the old controller still answers at {old[0]}:{old[1]}: stop it (or unplug it) "
            "before the standby takes over, so that two never drive the units at once"
        )
    if not journal.is_file():
        raise StandbyError(f"{journal}: no shipped journal here (was `chamber standby` run?)")
    with standby_lock(data):
        report = JournalReader(journal).verify(decode=False)
        if not report.ok:
            raise StandbyError(f"the shipped journal does not verify: {report}")
        return _annul_open_secret_votes(
            journal, hall_file, f"{old[0]}:{old[1]}", TAKEOVER_ANNUL_REASON
        )


# --- the command line ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="source", required=True, help="the active controller's HOST:PORT (--ship)"
    )
    parser.add_argument("--data", type=Path, required=True, help="the standby's data directory")
    parser.add_argument(
        "--key",
        type=Path,
        help=f"the shipping key (default: DATA/{KEY_FILE}, copied from the active)",
    )
    parser.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    """`chamber standby`: follow until stopped. Exit 1 on a refused record, 2 bad set-up."""
    from chamber.controller.logsetup import setup_logging
    from chamber.controller.runtime import serve_until_signalled

    try:
        setup_logging(args.log_level)
        host, port = parse_address(args.source)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"error: {args.data}: no such directory", file=sys.stderr)
        return 2
    try:
        key = load_key(args.key or args.data / KEY_FILE)
        with standby_lock(args.data):
            asyncio.run(serve_until_signalled(Follower(args.data, key, host, port).run()))
    except ShippedRecordError:
        return 1
    except StandbyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
