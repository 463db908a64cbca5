"""Secret-ballot presses: durable while the vote is open, no seat->choice link once sealed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.inputs import CloseVote, OpenVote, Tick, VoteKeyPressed, to_record
from chamber.controller.journal import Journal, JournalWriter, canonical_json, verify
from chamber.controller.secret_store import (
    PADDED_BYTES,
    SecretBallotStore,
    SecretKeyMissingError,
    SecretStoreError,
    SecretVoteSealedError,
)

VOTE = "NQ-07/2026 dự toán"
# (seat, key): each seat's last press, with presses changed along the way.
PRESSES = [(seat, 1 + seat % 3) for seat in range(1, 61)] + [(7, 3), (17, 1), (42, 2)]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "sitting.journal") as j:
        yield j


@pytest.fixture
def store(journal: Journal, tmp_path: Path) -> SecretBallotStore:
    return SecretBallotStore(journal, tmp_path / "keys")


def _files(tmp_path: Path) -> dict[Path, bytes]:
    return {f: f.read_bytes() for f in sorted(tmp_path.rglob("*")) if f.is_file()}


def _plaintexts() -> list[bytes]:
    """Every way a press could sit on disk in the clear: its stored encoding, and the
    seat/choice pair as adjacent JSON fields."""
    out = []
    for i, (seat, key) in enumerate(PRESSES):
        press = VoteKeyPressed(at=10.0 + i, seat=seat, key=key)
        out.append(canonical_json(to_record(press)).encode())
        out.append(f'"seat":{seat}'.encode() + b"}")
    return out


def _fill(store: SecretBallotStore) -> None:
    store.open_vote(VOTE)
    for i, (seat, key) in enumerate(PRESSES):
        store.put(VOTE, seat, key, 10.0 + i)


def test_presses_round_trip_in_order_and_survive_a_restart(
    journal: Journal, tmp_path: Path
) -> None:
    store = SecretBallotStore(journal, tmp_path / "keys")
    _fill(store)
    expected = [VoteKeyPressed(at=10.0 + i, seat=s, key=k) for i, (s, k) in enumerate(PRESSES)]
    assert [p.press for p in store.load(VOTE)] == expected
    journal.close()
    # A restart: a new process has only the files.
    with Journal.open(journal.path) as again:
        assert [p.press for p in SecretBallotStore(again, tmp_path / "keys").load(VOTE)] == (
            expected
        )


def test_no_plaintext_on_disk_while_the_vote_is_open(store: SecretBallotStore) -> None:
    _fill(store)
    files = _files(store.key_dir.parent)
    assert store.key_path(VOTE) in files
    for name, data in files.items():
        for text in _plaintexts():
            assert text not in data, (name, text)


def test_ciphertexts_do_not_reveal_the_choice_by_length(journal: Journal) -> None:
    lengths = {len(p.ciphertext) for p in journal.secret_presses()}
    assert len(lengths) <= 1


def test_purge_leaves_no_trace_in_the_database_wal_or_key_file(
    journal: Journal, store: SecretBallotStore, tmp_path: Path
) -> None:
    _fill(store)
    journal.append(to_record(Tick(at=99.0)))
    key = store.key_path(VOTE).read_bytes()
    stored = journal.secret_presses(VOTE)
    closing = to_record(CloseVote(at=100.0, vote_id=VOTE)) | {
        "totals": {"1": 21, "2": 20, "3": 19},
        "participants": 60,
    }

    report = store.purge(VOTE, closing=closing)

    assert report.presses_deleted == len(PRESSES)
    assert report.key_destroyed
    assert report.wal_truncated
    assert not store.key_path(VOTE).exists()
    files = _files(tmp_path)
    wal = Path(f"{journal.path}-wal")
    assert files.get(wal, b"") == b""
    secrets_on_disk = [key, *_plaintexts()]
    for row in stored:
        # Any 16-byte stretch of a ciphertext, and every nonce.
        secrets_on_disk += [row.nonce, row.ciphertext[:16], row.ciphertext[-16:]]
    for name, data in files.items():
        for secret in secrets_on_disk:
            assert secret not in data, name
    # The chain keeps the result, and only the result.
    assert store.load(VOTE) == []
    records = [r for _, r in journal.records()]
    assert records[-1] == closing
    assert not any(r["kind"] == "vote-key" for r in records)
    journal.close()
    assert verify(journal.path).ok


def test_a_sealed_vote_takes_no_more_presses(store: SecretBallotStore) -> None:
    _fill(store)
    store.purge(VOTE)
    with pytest.raises(SecretVoteSealedError):
        store.put(VOTE, 3, 1, 200.0)
    with pytest.raises(SecretVoteSealedError):
        store.open_vote(VOTE)
    assert not store.key_path(VOTE).exists()


def test_a_crash_between_seal_and_key_destruction_is_finished_on_start(
    journal: Journal, store: SecretBallotStore, tmp_path: Path
) -> None:
    _fill(store)
    # The first step of purge only, as if the process died right after it.
    journal.seal_secret_vote(VOTE, None)
    assert store.key_path(VOTE).exists()
    again = SecretBallotStore(journal, tmp_path / "keys")
    assert not again.key_path(VOTE).exists()
    assert again.load(VOTE) == []


def test_replay_puts_open_secret_presses_back_in_their_place(
    journal: Journal, store: SecretBallotStore
) -> None:
    journal.append(to_record(OpenVote(at=1.0, vote_id=VOTE)))
    store.put(VOTE, 5, 1, 2.0)
    store.put(VOTE, 6, 2, 2.5)
    journal.append(to_record(Tick(at=3.0)))
    store.put(VOTE, 5, 3, 4.0)
    assert list(journal.replay_inputs(secret=store)) == [
        OpenVote(at=1.0, vote_id=VOTE),
        VoteKeyPressed(at=2.0, seat=5, key=1),
        VoteKeyPressed(at=2.5, seat=6, key=2),
        Tick(at=3.0),
        VoteKeyPressed(at=4.0, seat=5, key=3),
    ]
    # Without the store, the main chain alone holds no press.
    assert list(journal.replay_inputs()) == [OpenVote(at=1.0, vote_id=VOTE), Tick(at=3.0)]


async def test_presses_share_the_group_commit_and_purge_waits_for_them(
    journal: Journal, store: SecretBallotStore
) -> None:
    store.open_vote(VOTE)
    async with JournalWriter(journal) as writer:
        # Enqueued in the order the core accepted them, as the runtime does.
        opened = writer.enqueue(to_record(OpenVote(at=1.0, vote_id=VOTE)))
        presses = [writer.enqueue_secret(store.seal_press(VOTE, s, 1, 2.0)) for s in range(1, 101)]
        tick = writer.enqueue(to_record(Tick(at=3.0)))
        results = await asyncio.gather(opened, *presses, tick)
        assert results[0] == 1
        assert results[-1] == 2
        assert writer.commits == 1
        pending = store.pending_presses()
        assert list(pending) == [1]
        assert len(pending[1]) == 100

        # The core accepted a last press, then the close: queued in that order, in one step.
        late = writer.enqueue_secret(store.seal_press(VOTE, 101, 2, 4.0))
        sealed = writer.enqueue_call(lambda: store.purge(VOTE))
        assert await late > 0
        report = await sealed
    # The press accepted before the close was committed before the seal, then deleted.
    assert report.presses_deleted == 101
    assert journal.secret_presses() == []


def test_a_changed_ciphertext_is_refused(journal: Journal, store: SecretBallotStore) -> None:
    _fill(store)
    with sqlite3.connect(journal.path) as raw:
        raw.execute(
            "UPDATE secret_presses SET ciphertext = zeroblob(length(ciphertext)) WHERE id = 3"
        )
    with pytest.raises(SecretStoreError, match="press 3"):
        store.load(VOTE)


def test_a_press_moved_to_another_vote_is_refused(
    journal: Journal, store: SecretBallotStore
) -> None:
    _fill(store)
    store.open_vote("other")
    with sqlite3.connect(journal.path) as raw:
        raw.execute("UPDATE secret_presses SET vote_id = 'other' WHERE id = 1")
    with pytest.raises(SecretStoreError, match="press 1"):
        store.load("other")


def test_a_missing_key_is_a_typed_error(
    journal: Journal, store: SecretBallotStore, tmp_path: Path
) -> None:
    _fill(store)
    store.key_path(VOTE).unlink()
    with pytest.raises(SecretKeyMissingError):
        SecretBallotStore(journal, tmp_path / "keys").load(VOTE)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4096), st.integers(1, 10), st.floats(0, 1e6)),
        min_size=1,
        max_size=20,
    )
)
def test_any_press_round_trips(presses: list[tuple[int, int, float]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d, Journal.open(Path(d) / "j") as j:
        store = SecretBallotStore(j, Path(d) / "keys")
        sealed: list[Any] = [store.seal_press(VOTE, s, k, at) for s, k, at in presses]
        assert {len(p.ciphertext) for p in sealed} == {PADDED_BYTES + 16}
        j.commit_items(sealed)
        assert [p.press for p in store.load(VOTE)] == [
            VoteKeyPressed(at=at, seat=s, key=k) for s, k, at in presses
        ]


def test_a_wider_key_directory_is_made_private(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        SecretBallotStore(journal, keys)
    assert keys.stat().st_mode & 0o777 == 0o700
