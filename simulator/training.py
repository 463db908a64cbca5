"""`chamber training`: a simulated hall for the chair, the secretary and the technician to
practise on.

The demo's hall (the 50-seat council on the real transports, the daemon in a process of its
own, the operator console in the foreground), with three differences that make it a place to
practise rather than a show:

- it is marked as training everywhere: the daemon's hall file says `[hall] training = true`,
  so every view the daemon serves (the console's, the wall's, `GET /api/state`, `GET /api/hall`)
  carries `hall.training`, and the console says *ĐÀO TẠO / TRAINING* on its second line;
- its data lives in a scratch directory of its own, `var/training/<date-time>/`, marked by a
  `TRAINING.txt` file: nothing it does reaches a real hall's journal, and a directory that
  holds a journal without that mark is refused;
- nothing is opened for the trainee: the sitting, the agenda, the votes and the floor are
  theirs to run. The simulated delegates answer what the trainee does: they take their seats,
  press when a vote opens (a few never press, a few change their mind), ask for the floor now
  and then, confirm a roll call with their presence key, and step out of the hall and come
  back.

An exercise list says what to practise; each exercise is ticked off the first time the
daemon's state shows it done (a vote closed, a secret ballot held, the floor handed over, …).
The list is in `DATA/exercises.txt` while the hall runs, and printed when it stops. A trainer
may give a list of their own (`--exercises FILE`, TOML, see `load_exercises`).

Like the demo, this process talks to the daemon only over its HTTP API; it imports nothing of
the daemon's package but its pure core (through the demo module).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from chamber.drivers.errors import BrokerError
from chamber.drivers.topology import TopologyError
from chamber.simulator.autopilot import Autopilot, Temperament
from chamber.simulator.demo import (
    DEFAULT_PORT,
    STOP_SIGNALS,
    TRUTH_FILE,
    DaemonProcess,
    DemoError,
    DemoHall,
    TruthBook,
    _log_to_file,
    _log_to_stderr,
    _run_console,
    demo_hall,
    free_port,
    hall_file,
)
from chamber.simulator.hall import SimulatorError

TRAINING_ROOT = Path("var") / "training"
MARKER = "TRAINING.txt"
MARKER_TEXT = (
    "ĐÀO TẠO / TRAINING\n"
    "Thư mục dữ liệu của hội trường mô phỏng dùng để đào tạo (chamber training).\n"
    "Không phải dữ liệu của kỳ họp thật.\n"
    "The data directory of a simulated hall for training (chamber training).\n"
    "Not the data of a real sitting.\n"
)
EXERCISES_FILE = "exercises.txt"
# How often the coach reads the daemon's state: an operator's steps last seconds.
COACH_POLL_S = 0.5
MAX_EXERCISES = 100

# The delegates of a training hall: as in the demo, and some step out and come back.
TRAINING_TEMPERAMENT = Temperament(
    absent=0.04, leave_every_s=40.0, away_s=(20.0, 90.0), confirm_roll_call=True
)

log = logging.getLogger(__name__)


class TrainingError(DemoError):
    """The training hall cannot start as asked (a bad exercise list, a real hall's data)."""


# --- what the trainee did, as the daemon's state shows it ------------------------------------

_DECIDED = frozenset({"closed", "published"})


def _votes(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [v for v in state.get("votes") or () if isinstance(v, Mapping)]


def _decided(state: Mapping[str, Any], *, practice: bool = False) -> list[Mapping[str, Any]]:
    return [
        v
        for v in _votes(state)
        if v.get("state") in _DECIDED and bool(v.get("practice")) is practice
    ]


def _sitting(state: Mapping[str, Any]) -> Mapping[str, Any]:
    found = state.get("sitting")
    return found if isinstance(found, Mapping) else {}


def _attendance(state: Mapping[str, Any]) -> Mapping[str, Any]:
    found = state.get("attendance")
    return found if isinstance(found, Mapping) else {}


def _floor(state: Mapping[str, Any]) -> Mapping[str, Any]:
    found = state.get("floor")
    return found if isinstance(found, Mapping) else {}


def _item_changed(state: Mapping[str, Any]) -> bool:
    sitting = _sitting(state)
    agenda = [i for i in sitting.get("agenda") or () if isinstance(i, Mapping)]
    current = sitting.get("current_item")
    return bool(agenda) and current is not None and current != agenda[0].get("id")


def _prepared(state: Mapping[str, Any]) -> bool:
    sitting = _sitting(state)
    return bool(sitting.get("open")) and any(sitting.get(k) for k in ("chair", "secretary", "date"))


# Each check: whether one look at the chair's view (`GET /api/state`) shows the step done.
# A step seen once stays done (`Coach`): a vote on hold is done though it was resumed since.
CHECKS: Mapping[str, Callable[[Mapping[str, Any]], bool]] = {
    "sitting-opened": lambda s: bool(_sitting(s).get("open")),
    "roll-call": lambda s: bool(_attendance(s).get("registrations")),
    "presence-by-hand": lambda s: bool(_attendance(s).get("marks")),
    "item-changed": _item_changed,
    "practice-vote": lambda s: bool(_decided(s, practice=True)),
    "vote-closed": lambda s: bool(_decided(s)),
    "vote-held": lambda s: any(v.get("state") == "hold" for v in _votes(s)),
    "vote-published": lambda s: any(v.get("state") == "published" for v in _votes(s)),
    "secret-ballot": lambda s: any(v.get("mode") == "secret" for v in _decided(s)),
    "dismissal-vote": lambda s: any(v.get("kind") == "dismissal" for v in _decided(s)),
    "vote-annulled": lambda s: any(v.get("state") == "annulled" for v in _votes(s)),
    "vote-rerun": lambda s: any(v.get("rerun_of") for v in _decided(s)),
    "floor-given": lambda s: bool(_floor(s).get("live")),
    "floor-handed-over": lambda s: len(_floor(s).get("speeches") or ()) >= 2,
    "chair-priority": lambda s: bool((_floor(s).get("priority") or {}).get("active")),
    "sitting-closed": lambda s: bool(s.get("sittings")),
    # A sitting file names the chair or the secretary (or the date); one opened by hand does not.
    "sitting-prepared": _prepared,
}


@dataclass(frozen=True)
class Exercise:
    """One step for the trainee: what to do, in both languages, and the check that sees it."""

    check: str
    vi: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.vi


DEFAULT_EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "sitting-opened",
        "Khai mạc kỳ họp với chương trình có ít nhất hai nội dung (phím s).",
        "Open the sitting with an agenda of at least two items (key s).",
    ),
    Exercise(
        "roll-call",
        "Điểm danh: bắt đầu, chờ các đại biểu bấm nút có mặt để xác nhận, rồi kết thúc (d, rồi d).",
        "Take a roll call: start it, let the delegates confirm with their presence key, end it "
        "(d, then d).",
    ),
    Exercise(
        "practice-vote",
        "Tiến hành một lần biểu quyết thử (n, chọn biểu quyết thử; o; c).",
        "Hold a practice vote (n, tick practice; o; c).",
    ),
    Exercise(
        "vote-closed",
        "Biểu quyết công khai thông qua một nghị quyết và kết thúc biểu quyết (n, o, c).",
        "Hold an open vote on a resolution and close it (n, o, c).",
    ),
    Exercise(
        "vote-held",
        "Tạm dừng một biểu quyết đang diễn ra rồi cho tiếp tục (h, rồi h).",
        "Put a running vote on hold, then resume it (h, then h).",
    ),
    Exercise(
        "vote-published",
        "Công bố kết quả một biểu quyết đã kết thúc (p).",
        "Publish the result of a closed vote (p).",
    ),
    Exercise(
        "secret-ballot",
        "Tổ chức một lần bỏ phiếu kín (n, hình thức bỏ phiếu kín).",
        "Hold a secret ballot (n, mode secret).",
    ),
    Exercise(
        "vote-rerun",
        "Hủy kết quả một biểu quyết, có lý do (z), rồi biểu quyết lại (l, o, c).",
        "Annul a vote with a reason (z), then run it again (l, o, c).",
    ),
    Exercise(
        "floor-handed-over",
        "Cho hai đại biểu đăng ký phát biểu lần lượt phát biểu (k, rồi k).",
        "Give the floor to two waiting delegates in turn (k, then k).",
    ),
    Exercise(
        "chair-priority",
        "Dùng quyền ưu tiên của chủ tọa, rồi tắt (F9, rồi F9).",
        "Use the chair's priority, then release it (F9, then F9).",
    ),
    Exercise(
        "presence-by-hand",
        "Ghi nhận có mặt bằng tay cho một ghế, có ghi lý do (e).",
        "Mark a seat present by hand, with a reason (e).",
    ),
    Exercise(
        "item-changed",
        "Chuyển sang nội dung tiếp theo của chương trình (j).",
        "Move on to the next agenda item (j).",
    ),
    Exercise(
        "sitting-closed",
        "Bế mạc kỳ họp (s).",
        "Close the sitting (s).",
    ),
    Exercise(
        "sitting-prepared",
        "Tải kỳ họp đã chuẩn bị từ tệp examples/vn-council-sitting.toml (F4), "
        "rồi mở lần lượt các biểu quyết của nó (F5).",
        "Load the prepared sitting examples/vn-council-sitting.toml (F4), then open its votes "
        "one after the other (F5).",
    ),
)


def _nfc_text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TrainingError(f"{where}: {key} must be a text that is not empty")
    if len(value) > 500:
        raise TrainingError(f"{where}: {key} is longer than 500 characters")
    return unicodedata.normalize("NFC", value.strip())


def parse_exercises(data: Mapping[str, Any], source: str = "<exercises>") -> tuple[Exercise, ...]:
    """A trainer's exercise list: `[[exercise]]` tables with `check` (one of `CHECKS`), `vi`
    and `en` (what to do, in each language). Errors name the entry and the key."""
    unknown = sorted(set(data) - {"exercise"})
    if unknown:
        raise TrainingError(f"{source}: unknown key {unknown[0]!r} (only [[exercise]] tables)")
    entries = data.get("exercise")
    if not isinstance(entries, list) or not entries:
        raise TrainingError(f"{source}: no [[exercise]] table")
    if len(entries) > MAX_EXERCISES:
        raise TrainingError(f"{source}: {len(entries)} exercises, at most {MAX_EXERCISES}")
    found: list[Exercise] = []
    for n, entry in enumerate(entries, start=1):
        where = f"{source}: exercise {n}"
        if not isinstance(entry, Mapping):
            raise TrainingError(f"{where}: not a table")
        extra = sorted(set(entry) - {"check", "vi", "en"})
        if extra:
            raise TrainingError(f"{where}: unknown key {extra[0]!r} (check, vi, en)")
        check = entry.get("check")
        if check not in CHECKS:
            raise TrainingError(
                f"{where}: check {check!r} is not one of: {', '.join(sorted(CHECKS))}"
            )
        found.append(
            Exercise(str(check), _nfc_text(entry, "vi", where), _nfc_text(entry, "en", where))
        )
    return tuple(found)


def load_exercises(path: Path) -> tuple[Exercise, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TrainingError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise TrainingError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TrainingError(f"{path}: not TOML: {exc}") from None
    return parse_exercises(data, str(path))


class Coach:
    """Ticks the exercises off as the daemon's state shows them done, and keeps the list in a
    file the trainer can read while the hall runs. It reads the chair's view; it changes
    nothing."""

    def __init__(self, exercises: Sequence[Exercise], path: Path, language: str = "vi") -> None:
        self.exercises = tuple(exercises)
        self.path = path
        self.language = language
        # When each exercise was first seen done (seconds since the hall started).
        self.done: dict[int, float] = {}
        self._started = time.monotonic()
        self._updated = asyncio.Event()

    def update(self, state: Mapping[str, Any]) -> list[Exercise]:
        """Look at one state; returns the exercises newly done."""
        fresh: list[Exercise] = []
        for n, exercise in enumerate(self.exercises):
            if n in self.done:
                continue
            if CHECKS[exercise.check](state):
                self.done[n] = time.monotonic() - self._started
                fresh.append(exercise)
                log.info("exercise done: %s", exercise.en)
        return fresh

    def report(self) -> str:
        """The list with each exercise ticked or not, in the hall's language then the other."""
        title = {"vi": "Bài tập đào tạo", "en": "Training exercises"}
        done = len(self.done)
        lines = []
        for language in (self.language, "en" if self.language == "vi" else "vi"):
            lines.append(f"{title[language]}: {done}/{len(self.exercises)}")
            for n, exercise in enumerate(self.exercises):
                mark = "✔" if n in self.done else "·"
                lines.append(f"  {mark} {n + 1:>2}. {exercise.text(language)}")
            lines.append("")
        return "\n".join(lines)

    def as_json(self) -> list[dict[str, Any]]:
        """The list and what was done, for a trainer's records."""
        return [
            {"check": e.check, "vi": e.vi, "en": e.en, "done_after_s": self.done.get(n)}
            for n, e in enumerate(self.exercises)
        ]

    def write(self) -> None:
        """The list as text (`exercises.txt`) and as JSON beside it, each replaced whole."""
        text = json.dumps(self.as_json(), ensure_ascii=False, indent=1) + "\n"
        for path, content in ((self.path, self.report()), (self.path.with_suffix(".json"), text)):
            fresh = path.with_name(path.name + ".new")
            fresh.write_text(content, encoding="utf-8")
            os.replace(fresh, path)

    async def run(self, chair: httpx.AsyncClient) -> None:
        self.write()
        while True:
            try:
                response = await chair.get("/api/state")
                response.raise_for_status()
                if self.update(response.json()["state"]):
                    self.write()
                self._updated.set()
            except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                log.warning("coach: cannot read the daemon's state: %s", exc)
            await asyncio.sleep(COACH_POLL_S)

    async def wait_for(self, check: str) -> None:
        """Return once an exercise of `check` is done; bound it with a timeout."""
        while not any(self.exercises[n].check == check for n in self.done):
            self._updated.clear()
            await self._updated.wait()


# --- the scratch directory --------------------------------------------------------------------


def training_dir(given: Path | None) -> Path:
    """A fresh directory under `var/training/`, or `given` if it is a training directory (or
    empty, or new); marked with `TRAINING.txt`. A directory that holds a journal without the
    mark may be a real hall's: it is refused."""
    if given is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            path = TRAINING_ROOT / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                path.mkdir(parents=True)
            except FileExistsError:
                continue
            break
        else:
            raise TrainingError(f"no fresh data directory under {TRAINING_ROOT}")
    else:
        path = given
        if path.exists() and not path.is_dir():
            raise TrainingError(f"{path}: not a directory")
        if path.is_dir() and not (path / MARKER).exists():
            journals = sorted(p.name for p in path.glob("*.journal"))
            if journals:
                raise TrainingError(
                    f"{path}: holds the journal {journals[0]} and is not a training directory "
                    f"(no {MARKER}): the data of a real hall is never used for training"
                )
        path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    return path.resolve()


# --- running it -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="the API's port, or the next free one"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="a training data directory (default: a fresh one under var/training/)",
    )
    parser.add_argument(
        "--exercises", type=Path, help="the trainer's exercise list (TOML; default: built in)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        if not 1 <= args.port <= 65535:
            raise TrainingError(f"--port must lie in 1..65535, not {args.port}")
        exercises = (
            load_exercises(args.exercises) if args.exercises is not None else DEFAULT_EXERCISES
        )
        return asyncio.run(
            training(seed=args.seed, port=args.port, data_dir=args.data, exercises=exercises)
        )
    except (DemoError, TopologyError) as exc:
        print(f"chamber training: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("chamber training: interrupted / đã dừng", file=sys.stderr)
        return 130
    except (SimulatorError, BrokerError, OSError) as exc:
        print(f"chamber training: the hall could not be started: {exc}", file=sys.stderr)
        return 1


def banner(daemon: DaemonProcess, data_dir: Path, console: bool, coach: Coach) -> str:
    tokens = daemon.tokens
    lines = [
        "",
        "═══ ĐÀO TẠO / TRAINING ═══  hội trường mô phỏng, không phải kỳ họp thật",
        "                           a simulated hall, not a real sitting",
        "",
        f"  Màn hình hội trường / Display wall:  {daemon.url}/wall/?token={tokens.observer}",
        f"  Mã chủ tọa / Chair token:            {tokens.chair}",
        f"  Mã thư ký / Secretary token:         {tokens.secretary}",
        f"  Mã kỹ thuật viên / Technician token: {tokens.technician}",
        f"  Dữ liệu đào tạo / Training data:     {data_dir}",
        f"  Bài tập / Exercises:                 {data_dir / EXERCISES_FILE}",
        "",
        coach.report(),
    ]
    if not console:
        lines += [
            f"  Bàn điều khiển / Console: chamber console --url {daemon.url} --token <chair token>",
            "  Ctrl-C hoặc SIGTERM để dừng / Ctrl-C or SIGTERM stops.",
            "",
        ]
    return "\n".join(lines)


async def training(
    *,
    seed: int,
    port: int,
    data_dir: Path | None,
    exercises: Sequence[Exercise] = DEFAULT_EXERCISES,
    out: TextIO = sys.stdout,
    ready: Callable[[DaemonProcess, Coach], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the training hall until the console quits, a signal comes or `stop` is set.
    `ready` is told the daemon and the coach once the hall runs (for a test, or a trainer's
    own tooling)."""
    console = out.isatty() and sys.stdin.isatty()
    directory = training_dir(data_dir)
    if console:
        _log_to_file(directory / "training.log")
    else:
        _log_to_stderr(logging.WARNING)
    hall = DemoHall.load(hall_file(50, seed, directory))
    coach = Coach(exercises, directory / EXERCISES_FILE)
    stop = stop or asyncio.Event()
    code = 0
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            demo_hall(hall, directory, seed=seed, port=free_port(port), training=True) as (
                sim,
                daemon,
            ),
            daemon.client(daemon.tokens.chair) as chair,
        ):
            hall_info = (await chair.get("/api/hall")).json()
            coach.language = "en" if hall_info.get("language") == "en" else "vi"
            if hall_info.get("training") is not True:
                raise TrainingError("the daemon does not mark the hall as a training hall")
            async with Autopilot(sim, seed=seed, temperament=TRAINING_TEMPERAMENT) as pilot:
                book = TruthBook(sim, pilot, hall, chair, directory / TRUTH_FILE)
                tasks = [
                    asyncio.create_task(book.run(), name="training-truth-book"),
                    asyncio.create_task(coach.run(chair), name="training-coach"),
                ]
                try:
                    print(banner(daemon, directory, console, coach), file=out, flush=True)
                    if ready is not None:
                        ready(daemon, coach)
                    if console and not stop.is_set():
                        code = await _run_console(daemon, stop)
                    else:
                        await stop.wait()
                finally:
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                    with contextlib.suppress(OSError):
                        coach.write()
    finally:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    print(coach.report(), file=out, flush=True)
    if code:
        print(f"chamber training: the console ended with code {code}", file=sys.stderr, flush=True)
    print("chamber training: stopped / đã dừng", file=out, flush=True)
    return 1 if code else 0
