"""The torture harness inside `make test`: a short seeded run, and the defects of issue 10 that
it finds, each as a small deterministic scenario on the same harness.

These tests run in their own pytest invocation (`make torture-short`, part of `make test`) and
are never retried: a failure prints its seed and the command that replays it. Each scenario
test names the defect it reproduced; a defect not fixed yet has its test marked
`xfail(strict=True)`, so that its fix turns the test green and the mark goes with the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from chamber.drivers.mosquitto import CONTROLLER_USER
from tests.torture import ledger
from tests.torture.harness import HALL_ID, KEYS, Options, Torture
from tests.torture.processes import retained_messages

pytestmark = [pytest.mark.torture, pytest.mark.timeout(300)]

SHORT = Options(seed=20261202, kills=3, broker_kills=1, seats=16, votes=2, press_window_s=3.0)
# The bound on a vote reaching its count in the scenarios below: a correct daemon settles in
# well under a second; a defect that loses a press makes the scenario wait this long.
SCENARIO_SETTLE_S = 15.0


def replay_hint(options: Options) -> str:
    return f"seed {options.seed}; replay: {options.command()}"


async def test_short_torture_run_counts_every_press_once_and_keeps_every_secret() -> None:
    """The safety net: a short seeded run on every transport, with every kind of fault."""
    async with Torture(SHORT) as t:
        figures = await t.run()
    print(figures.summary())
    assert figures.kills == SHORT.kills
    assert figures.broker_kills == SHORT.broker_kills
    assert min(figures.reboots, figures.hostile, figures.presses) > 0
    assert not figures.failed, (
        f"{figures.summary()}\n" + "\n".join(figures.details[:30]) + f"\n{replay_hint(SHORT)}"
    )


# --- the defects, one scenario each --------------------------------------------------------


@pytest.fixture
async def hall() -> AsyncIterator[Torture]:
    options = Options(seed=7, kills=0, broker_kills=0, seats=12, votes=1)
    async with Torture(options) as t:
        await t.post("/api/sitting/open", {"sitting_id": "kh-loi", "title": "Kỳ họp kiểm lỗi"})
        for seat in t.honest:
            t.sim.set_presence(seat, True)
        await t.until_state(lambda st: st["attendance"]["present"] >= len(t.honest))
        yield t


def press_all(t: Torture, seats: list[int], first_key: int = 1) -> dict[int, int]:
    """Each seat presses one key (spread over the three); returns seat -> key."""
    choices = {seat: (first_key + i) % KEYS + 1 for i, seat in enumerate(seats)}
    for seat, key in choices.items():
        t.sim.press(seat, key)
    return choices


def keypad_seats(t: Torture) -> list[int]:
    return [s for s in t.keypad_seats if s in t.honest]


def ip_seats(t: Torture) -> list[int]:
    return [s for s in t.ip_seats if s in t.honest]


async def test_secret_choices_are_not_readable_from_keypad_rings_after_the_close(
    hall: Torture,
) -> None:
    """Issue 10: the keypads kept a secret vote's choices in their 8-event rings after the
    close, readable by any Modbus master on the bus."""
    opened = await hall.open_vote("kin-1", secret=True)
    press_all(hall, keypad_seats(hall))
    books = await hall.close_vote("kin-1", True, opened, settle_s=SCENARIO_SETTLE_S)
    assert (books.lost, books.wrong_results) == (0, 0), books.details
    ring = [line for line in hall.figures.links if "keypad ring" in line]
    assert ring == []


async def test_a_secret_vote_annulled_mid_vote_and_taken_on_paper_keeps_every_secret(
    hall: Torture,
) -> None:
    """When the system fails during a secret ballot the chair annuls it, runs it again and
    enters the paper count: the annulled result, the rerun, the journal, the stream, the
    exports and the units keep no seat's choice."""
    opened = await hall.open_vote("kin-2", secret=True)
    press_all(hall, keypad_seats(hall) + ip_seats(hall))
    books = await hall.close_vote("kin-2", True, opened, settle_s=SCENARIO_SETTLE_S, annul=True)
    assert (books.lost, books.wrong_results) == (0, 0), books.details
    assert hall.figures.links == []
    # /metrics was scraped with every press in, and searched with the rest.
    assert len(hall.metrics_scrapes) == 1
    assert "chamber_votes_open 1.0" in hall.metrics_scrapes[0]
    st = await hall.state()
    annulled = next(v for v in st["votes"] if v["vote_id"] == "kin-2")
    assert annulled["state"] == "annulled"
    assert annulled["rerun_by"] == "kin-2-lai"


class BrokerLog(logging.Handler):
    """Counts lines of the broker's log that contain `text` (and name one of `clients`)."""

    def __init__(self, text: str, clients: set[str] | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.clients = clients
        self.count = 0
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.text not in message:
            return
        if self.clients is not None:
            client = message.split(self.text, 1)[1].split(" ", 1)[0]
            if client not in self.clients:
                return
        self.count += 1
        self.changed.set()

    async def reach(self, count: int, within: float) -> bool:
        """Until `count` lines in all; False when the bound passes first."""
        try:
            async with asyncio.timeout(within):
                while self.count < count:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True


@contextmanager
def broker_log(text: str, clients: set[str] | None = None) -> Iterator[BrokerLog]:
    logger = logging.getLogger("chamber.drivers.mosquitto")
    handler, level = BrokerLog(text, clients), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_the_broker_keeps_no_secret_choice_on_disk_or_retained(hall: Torture) -> None:
    """Issue 10: the broker wrote the retained LED messages of a secret vote, each seat's
    chosen key lit, to its database on disk."""
    with broker_log("Saving in-memory database") as saves:
        opened = await hall.open_vote("kin-2", secret=True)
        choices = press_all(hall, ip_seats(hall))
        window = ledger.VoteWindow("kin-2", True, opened, 1e18, tuple(hall.honest))
        expected = ledger.expected_choices(hall.truth, window)
        assert await hall.settle("kin-2", expected, True, within=SCENARIO_SETTLE_S)
        # A broker that persists saves every second: wait for one save of the lit LEDs. One
        # that keeps nothing on disk never saves; this bounds the wait for it.
        await saves.reach(saves.count + 1, within=3.0)
        secret = ledger.Secret("kin-2", choices, frozenset(), None, None)
        found = []
        for path in sorted(p for p in hall.broker_dir.rglob("*") if p.is_file()):
            found += hall.led_links_in_blob(f"broker file {path.name}", path.read_bytes(), secret)
    books = await hall.close_vote("kin-2", True, opened, settle_s=SCENARIO_SETTLE_S)
    assert (books.lost, books.wrong_results) == (0, 0), books.details
    retained = await retained_messages(
        hall.broker.host,
        hall.broker.port,
        "auditor",
        hall.broker.users["auditor"],
        "torture-auditor-check",
        30.0,
    )
    found += [
        link
        for topic, payload in retained
        for link in hall.mqtt_links("retained", topic, payload, secret, None)
    ]
    # And what the attacker found after the close: the retained store, the broker's files.
    found += [line for line in hall.figures.links if "broker" in line]
    assert found == []


async def test_secret_presses_are_not_read_again_after_a_sigkill(hall: Torture) -> None:
    """Issue 10: after a restart the keypad line read a secret vote's presses again from the
    keypads' event memory, and journaled them with seat and key."""
    opened = await hall.open_vote("kin-3", secret=True)
    press_all(hall, keypad_seats(hall))
    window = ledger.VoteWindow("kin-3", True, opened, 1e18, tuple(hall.honest))
    expected = ledger.expected_choices(hall.truth, window)
    assert await hall.settle("kin-3", expected, True, within=SCENARIO_SETTLE_S)
    await hall.daemon.kill()
    hall.figures.daemon_ready_s.append(await hall.daemon.start())
    books = await hall.close_vote("kin-3", True, opened, settle_s=SCENARIO_SETTLE_S)
    # The next vote, open: nothing of the secret one may count in it.
    opened = await hall.open_vote("cong-khai-4", secret=False)
    books.add(await hall.close_vote("cong-khai-4", False, opened, settle_s=SCENARIO_SETTLE_S))
    books.add(hall.account_journal())
    assert books.clean, books.details


@contextmanager
def journal_locked(path: Path) -> Iterator[None]:
    """Hold the journal's write lock, as a disk that stalls would: the daemon receives
    presses but cannot commit them."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_ip_presses_survive_a_sigkill_between_receipt_and_commit() -> None:
    """Issue 10: the MQTT client acknowledged a QoS 1 press to the broker on receipt, before
    it was on disk: a SIGKILL between receipt and commit lost it."""
    options = Options(seed=11, kills=0, broker_kills=0, seats=12, votes=1, debug_broker=True)
    controller = {f"chamber-controller-{HALL_ID}", CONTROLLER_USER}
    with broker_log("Received PUBACK from ", controller) as acks:
        async with Torture(options) as t:
            await t.post("/api/sitting/open", {"sitting_id": "kh-ack", "title": "Kỳ họp"})
            for seat in t.honest:
                t.sim.set_presence(seat, True)
            await t.until_state(lambda st: st["attendance"]["present"] >= len(t.honest))
            opened = await t.open_vote("ack-1", secret=False)
            await t.sim.drain()
            seats = ip_seats(t)
            before = acks.count
            with journal_locked(t.data / f"{HALL_ID}.journal"):
                press_all(t, seats)
                await t.sim.drain()  # the broker has every press
                # A daemon that acknowledges on receipt does so within milliseconds; one that
                # waits for its disk never does while the journal is held: this bounds the wait
                # for an acknowledgement a correct daemon does not send.
                await acks.reach(before + len(seats), within=3.0)
                await t.daemon.kill()
            books = await t.close_vote("ack-1", False, opened, settle_s=SCENARIO_SETTLE_S)
            books.add(t.account_journal())
            assert (books.lost, books.wrong_results) == (0, 0), books.details


async def test_a_hostile_seat_with_the_controllers_client_id_changes_no_count(
    hall: Torture,
) -> None:
    """Issue 10: a seat's account connecting with the controller's client id knocked the
    controller off the broker, and the presses made meanwhile were lost."""
    opened = await hall.open_vote("hostile-1", secret=False)
    seats = ip_seats(hall)
    # Knocked off in turn when the controller comes back, if the broker lets it in at all.
    with contextlib.suppress(aiomqtt.MqttError):
        async with aiomqtt.Client(
            hall.broker.host,
            hall.broker.port,
            username=hall.hostile_user,
            password=hall.hostile_password,
            identifier=f"chamber-controller-{HALL_ID}",
            clean_session=True,
        ):
            press_all(hall, seats)
            await hall.sim.drain()
    books = await hall.close_vote("hostile-1", False, opened, settle_s=SCENARIO_SETTLE_S)
    books.add(hall.account_journal())
    assert (books.lost, books.wrong_results) == (0, 0), books.details


async def test_a_mic_request_is_journaled_once_across_a_sigkill_before_its_ack(
    hall: Torture,
) -> None:
    """Seen in the long run: a request read right after a start, then a SIGKILL before the
    acknowledgement reached the unit. Here the unit stops hearing the line once it has
    reported the request, so the acknowledgement cannot reach it before the kill."""
    seat = next(s for s in hall.mic_seats if s in hall.honest)
    ref = hall.sim.unit_ref(seat, "mic")
    line = hall.sim.mic_lines[ref.line]
    unit = line.units[ref.address]
    deaf = False
    heard = line._message

    def message(msg: Any, started: float) -> None:
        nonlocal deaf
        if deaf and msg.address == ref.address:
            return
        heard(msg, started)
        if msg.address == ref.address and unit.state.events:
            deaf = True  # it has just reported the request: it hears nothing more

    line._message = message  # type: ignore[method-assign,assignment]

    def journaled() -> int:
        return sum(
            1
            for _, r in hall.journal_records()
            if r.get("kind") == "mic-request" and r.get("seat") == seat
        )

    hall.sim.mic_request(seat)
    await hall.until_state(lambda _st: journaled() >= 1)
    await hall.daemon.kill()
    deaf = False
    hall.figures.daemon_ready_s.append(await hall.daemon.start())
    # The new daemon has polled the line a good while: long enough to have read the unit.
    polled = line.requests
    await line.wait_until(lambda: line.requests >= polled + 50, within=30.0)
    assert journaled() == 1, unit.state
