"""`chamber training`: the simulated hall for operators to practise on.

The whole training hall (the 50-seat council on the real transports, the daemon in a process of
its own, the simulated delegates) is started as `chamber training` starts it: a vote the
trainee opens through the API is answered by the delegates, every view says the hall is a
training hall, the exercises are ticked off as the daemon's state shows them done, and a real
hall's data directory is never used. The exercise list and the come-and-go delegates are tested
on their own below.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.auth import Role
from chamber.controller.config import load_config, parse_config
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.view import Audience, HallInfo, project
from chamber.simulator.autopilot import Autopilot, Temperament
from chamber.simulator.demo import EXAMPLE, DaemonProcess, open_sitting
from chamber.simulator.training import (
    CHECKS,
    DEFAULT_EXERCISES,
    EXERCISES_FILE,
    MARKER,
    Coach,
    Exercise,
    TrainingError,
    parse_exercises,
    training,
    training_dir,
)
from tests.rig import HallRig

WAIT_S = 90.0


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Not under pytest's 0700 tree: the simulator's broker drops to its own account.
    base = Path(tempfile.mkdtemp(prefix="chamber-training-test-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- the training hall, whole ----------------------------------------------------------------


async def _until(client: httpx.AsyncClient, predicate: Any, what: str) -> dict[str, Any]:
    """The chair's view once `predicate(view)` holds, read every 0.2 s (the delegates' units
    tell nobody when they change; the daemon's view is the one place to watch)."""
    state: dict[str, Any] = {}
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                response = await client.get("/api/state")
                response.raise_for_status()
                state = response.json()["state"]
                if predicate(state):
                    return state
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"never: {what}; last view: {json.dumps(state)[:2000]}") from None


@pytest.mark.timeout(240)
async def test_the_training_hall_answers_the_trainee_and_says_it_is_training(
    workdir: Path,
) -> None:
    data = workdir / "data"
    stop = asyncio.Event()
    started: asyncio.Future[tuple[DaemonProcess, Coach]] = (
        asyncio.get_running_loop().create_future()
    )
    out = io.StringIO()
    run = asyncio.create_task(
        training(
            seed=5,
            port=0,
            data_dir=data,
            out=out,
            stop=stop,
            ready=lambda daemon, coach: started.set_result((daemon, coach)),
        )
    )
    try:
        async with asyncio.timeout(WAIT_S):
            daemon, coach = await asyncio.shield(started)
        assert (data / MARKER).read_text(encoding="utf-8").startswith("ĐÀO TẠO / TRAINING")
        async with (
            daemon.client(daemon.tokens.chair) as chair,
            daemon.client(daemon.tokens.observer) as observer,
        ):
            # The mark is in the hall's description and in every role's view.
            assert (await chair.get("/api/hall")).json()["training"] is True
            for client in (chair, observer):
                view = (await client.get("/api/state")).json()["state"]
                assert view["hall"]["training"] is True
            # Nothing is opened for the trainee: the sitting is theirs to open.
            first = (await chair.get("/api/state")).json()["state"]
            assert not first["sitting"]["open"]

            await open_sitting(chair)
            seated = await _until(
                chair, lambda s: s["quorum"]["quorate"], "the delegates take their seats"
            )
            # A roll call: the delegates in the hall see their presence LED go dark and
            # confirm with one press each, staying present.
            assert (await chair.post("/api/attendance/open")).status_code == 200

            def confirmed(state: dict[str, Any]) -> bool:
                reg = state["attendance"]["registration"]
                here = set(state["attendance"]["present_seats"])
                return bool(reg["roll_call"]) and len(reg["registered"]) >= len(here) > 0

            during = await _until(chair, confirmed, "the delegates confirm the roll call")
            assert (
                len(during["attendance"]["present_seats"])
                >= len(seated["attendance"]["present_seats"]) - 3
            )  # a few may have stepped out meanwhile
            assert (await chair.post("/api/attendance/close")).status_code == 200
            after = await _until(
                chair, lambda s: bool(s["attendance"]["registrations"]), "the roll call ends"
            )
            assert after["quorum"]["quorate"]  # confirming left everybody present
            created = await chair.post("/api/votes", json={"title": "Nghị quyết thử nghiệm"})
            assert created.status_code == 200, created.text
            vote_id = created.json()["vote_id"]
            assert (await chair.post(f"/api/votes/{vote_id}/open")).status_code == 200

            def vote(state: dict[str, Any]) -> dict[str, Any]:
                found: dict[str, Any] = next(v for v in state["votes"] if v["vote_id"] == vote_id)
                return found

            # The simulated delegates see their keys unlock and press, nobody told them.
            at_open = await _until(
                chair, lambda s: vote(s)["tally"]["voted"] >= 20, "the delegates vote"
            )
            assert vote(at_open)["state"] == "open"
            assert (await chair.post(f"/api/votes/{vote_id}/close")).status_code == 200
            closed = await _until(
                chair, lambda s: vote(s)["state"] == "closed", "the vote is closed"
            )
            result = vote(closed)["result"]
            assert result["voted"] >= 20
            assert sum(t["count"] for t in result["totals"]) == result["voted"]

            async with asyncio.timeout(WAIT_S):
                await coach.wait_for("vote-closed")
            done = {coach.exercises[n].check for n in coach.done}
            assert {"sitting-opened", "roll-call", "vote-closed"} <= done
            assert "secret-ballot" not in done  # no secret ballot was held
            # The trainer's copy of the list, ticked as the hall runs.
            listed = (data / EXERCISES_FILE).read_text(encoding="utf-8")
            assert "✔  2. Điểm danh" in listed
            assert "✔  4. Biểu quyết công khai" in listed
            assert "·  7. Tổ chức một lần bỏ phiếu kín" in listed

            # The sitting closed, the prepared sitting of the exercise list is loaded from its
            # file, as the console's F4 sends it.
            assert (await chair.post("/api/sitting/close")).status_code == 200
            prepared = EXAMPLE.with_name("vn-council-sitting.toml")
            loaded = await chair.post(
                "/api/sitting/load",
                json={"text": prepared.read_text(encoding="utf-8"), "name": prepared.name},
            )
            assert loaded.status_code == 200, loaded.text
            async with asyncio.timeout(WAIT_S):
                await coach.wait_for("sitting-prepared")
            assert "sitting-closed" in {coach.exercises[n].check for n in coach.done}
    finally:
        stop.set()
        async with asyncio.timeout(60):
            code = await run
    assert code == 0
    printed = out.getvalue()
    assert "ĐÀO TẠO / TRAINING" in printed
    assert "Bài tập đào tạo: 5/14" in printed
    assert "Training exercises: 5/14" in printed
    records = json.loads((data / "exercises.json").read_text(encoding="utf-8"))
    assert [r["check"] for r in records if r["done_after_s"] is not None] == [
        "sitting-opened",
        "roll-call",
        "vote-closed",
        "sitting-closed",
        "sitting-prepared",
    ]
    # The daemon's journal is in the training directory, nowhere else.
    assert list(data.glob("*.journal"))


# --- the scratch directory -------------------------------------------------------------------


def test_a_real_halls_data_is_never_used_for_training(workdir: Path) -> None:
    real = workdir / "srv"
    real.mkdir()
    (real / "hdnd-ninh-binh.journal").write_bytes(b"")
    with pytest.raises(TrainingError, match="is not a training directory"):
        training_dir(real)
    assert not (real / MARKER).exists()

    fresh = training_dir(workdir / "new")
    assert (fresh / MARKER).exists()
    # A training directory with its journal may be used again.
    (fresh / "hdnd-ninh-binh.journal").write_bytes(b"")
    assert training_dir(fresh) == fresh


# --- the exercise list -----------------------------------------------------------------------


def test_every_built_in_exercise_has_a_check_and_both_languages() -> None:
    assert len(DEFAULT_EXERCISES) == 14
    for exercise in DEFAULT_EXERCISES:
        assert exercise.check in CHECKS
        assert exercise.vi
        assert exercise.en
        assert exercise.vi != exercise.en
        assert unicodedata.is_normalized("NFC", exercise.vi)


def test_a_trainers_list_is_read_and_bad_entries_are_named() -> None:
    parsed = parse_exercises(
        {
            "exercise": [
                # Decomposed (NFD) Vietnamese, as some editors write it: kept as NFC.
                {"check": "secret-ballot", "vi": unicodedata.normalize("NFD", "Bỏ phiếu kín"),
                 "en": "A secret ballot"},
            ]
        }
    )  # fmt: skip
    assert parsed == (Exercise("secret-ballot", "Bỏ phiếu kín", "A secret ballot"),)
    with pytest.raises(TrainingError, match="exercise 2: check 'fly' is not one of"):
        parse_exercises(
            {"exercise": [{"check": "vote-closed", "vi": "a", "en": "b"}, {"check": "fly"}]}
        )
    with pytest.raises(TrainingError, match="exercise 1: en must be a text"):
        parse_exercises({"exercise": [{"check": "vote-closed", "vi": "a"}]})
    with pytest.raises(TrainingError, match="exercise 1: unknown key 'points'"):
        parse_exercises({"exercise": [{"check": "vote-closed", "vi": "a", "en": "b", "points": 3}]})
    with pytest.raises(TrainingError, match="no \\[\\[exercise\\]\\] table"):
        parse_exercises({})


def _view(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sitting": {"open": False, "agenda": [], "current_item": None},
        "attendance": {"registrations": [], "marks": []},
        "votes": [],
        "floor": {"live": [], "speeches": [], "priority": {"active": False}},
        "sittings": [],
    }
    return {**base, **parts}


@given(st.permutations(range(4)))
def test_a_step_seen_once_stays_done_whatever_follows(order: list[int]) -> None:
    """The coach keeps what it saw: a vote put on hold and resumed is done, in any order of
    looks; nothing is done by a view that does not show it."""
    views = [
        _view(votes=[{"state": "hold", "practice": False}]),
        _view(votes=[{"state": "open", "practice": False}]),
        _view(votes=[{"state": "closed", "practice": True}]),
        _view(),
    ]
    coach = Coach(
        [Exercise("vote-held", "a", "a"), Exercise("practice-vote", "b", "b"),
         Exercise("vote-closed", "c", "c")],
        Path("/nonexistent"),
    )  # fmt: skip
    for n in order:
        coach.update(views[n])
    assert sorted(coach.done) == [0, 1]  # no real vote was closed: only a practice one


def test_the_checks_read_the_views_of_the_steps() -> None:
    agenda = [{"id": "1"}, {"id": "2"}]
    seen = {
        "sitting-opened": _view(sitting={"open": True, "agenda": agenda, "current_item": "1"}),
        "item-changed": _view(sitting={"open": True, "agenda": agenda, "current_item": "2"}),
        "secret-ballot": _view(votes=[{"state": "published", "mode": "secret"}]),
        "vote-rerun": _view(votes=[{"state": "closed", "rerun_of": "v1"}]),
        "floor-handed-over": _view(floor={"live": [], "speeches": [{}, {}]}),
        "chair-priority": _view(floor={"priority": {"active": True}}),
        "sitting-closed": _view(sittings=[{"sitting_id": "k1"}]),
        "sitting-prepared": _view(sitting={"open": True, "chair": {"name": "Phạm Mạnh Dũng"}}),
    }
    for check, view in seen.items():
        assert CHECKS[check](view), check
        assert not CHECKS[check](_view()), check
    assert not CHECKS["item-changed"](seen["sitting-opened"])


# --- the mark in the views and the hall file -------------------------------------------------


def test_the_hall_file_marks_a_training_hall_and_every_view_carries_it() -> None:
    config = load_config(EXAMPLE)
    assert config.training is False
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["hall"]["training"] = True
    marked = parse_config(data)
    assert marked.training is True
    info: HallInfo = {
        "id": marked.hall_id,
        "name": marked.hall.body.name,
        "short_name": marked.hall.body.short_name,
        "members": marked.hall.body.members,
        "language": marked.hall.language.value,
        "training": marked.training,
    }
    views = project(MeetingCore(marked.hall).snapshot(), info, {"lines": [], "units": []})
    for audience in Audience:
        assert views[audience]["hall"].get("training") is True, audience


# --- delegates who come and go ---------------------------------------------------------------


@pytest.fixture
async def rig(workdir: Path) -> AsyncIterator[HallRig]:
    async with HallRig(load_config(EXAMPLE), workdir, wire_time=False, seed=4) as rig:
        yield rig


@pytest.mark.timeout(240)
async def test_delegates_confirm_a_roll_call_then_step_out_and_come_back(rig: HallRig) -> None:
    """After a roll call the keypads' presence latches read the other way round (a
    confirmation toggles the latch, the delegate stays): the delegates who then step out and
    come back are still seen to go and to come back."""
    restless = Temperament(
        reaction_s=(0.1, 0.6),
        arrive_within_s=0.5,
        floor_every_s=None,
        leave_every_s=0.8,
        away_s=(0.5, 1.0),
        confirm_roll_call=True,
    )
    sim = rig.sim
    async with rig.client(Role.CHAIR) as chair:
        await open_sitting(chair)

        async def view() -> dict[str, Any]:
            state: dict[str, Any] = (await chair.get("/api/state")).json()["state"]
            return state

        async def until(predicate: Any, what: str) -> dict[str, Any]:
            try:
                async with asyncio.timeout(WAIT_S):
                    while True:
                        state = await view()
                        if predicate(state):
                            return state
                        await asyncio.sleep(0.1)
            except TimeoutError:
                raise AssertionError(f"never: {what}") from None

        async with Autopilot(sim, seed=4, temperament=restless) as pilot:
            await until(lambda s: s["quorum"]["quorate"], "the delegates take their seats")
            assert (await chair.post("/api/attendance/open")).status_code == 200

            def confirmed(state: dict[str, Any]) -> bool:
                reg = state["attendance"]["registration"]
                return len(reg["registered"]) >= len(state["attendance"]["present_seats"])

            await until(confirmed, "everyone in the hall confirms")
            assert (await chair.post("/api/attendance/close")).status_code == 200
            assert pilot.confirmations > 0
            # A keypad delegate (its latch toggled by the confirmation) who steps out after
            # it is seen gone by the daemon, and back when back.
            keypads = {s for s in pilot.expected_present if s not in sim.ip_units}

            def gone(state: dict[str, Any]) -> set[int]:
                return (pilot.away & keypads) - set(state["attendance"]["present_seats"])

            seat = min(gone(await until(gone, "a keypad delegate is seen stepping out")))
            await until(
                lambda s: seat not in pilot.away and seat in s["attendance"]["present_seats"],
                f"seat {seat} is seen coming back",
            )
            assert pilot.errors == 0


# --- the command line ------------------------------------------------------------------------


def _chamber(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chamber.controller.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_command_refuses_a_bad_exercise_list_and_a_real_halls_data(workdir: Path) -> None:
    bad = workdir / "bai-tap.toml"
    bad.write_text(
        '[[exercise]]\ncheck = "vote-closed"\nvi = "Biểu quyết"\nen = "A vote"\n\n'
        '[[exercise]]\ncheck = "fly"\nvi = "Bay"\nen = "Fly"\n',
        encoding="utf-8",
    )
    done = _chamber("training", "--exercises", str(bad), cwd=workdir)
    assert done.returncode == 2, done
    assert "bai-tap.toml: exercise 2: check 'fly' is not one of:" in done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback

    real = workdir / "srv"
    real.mkdir()
    (real / "hdnd-ninh-binh.journal").write_bytes(b"")
    done = _chamber("training", "--data", str(real), cwd=workdir)
    assert done.returncode == 2, done
    assert "is not a training directory (no TRAINING.txt)" in done.stderr
    assert not (real / MARKER).exists()
    assert not (workdir / "var").exists()  # nothing was started
