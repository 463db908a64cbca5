"""The MQTT twin of the wall: `controller.wall.wall_messages` against the wire contract.

States come from a real meeting core (the 50-seat Vietnamese council of the examples) driven
by inputs; every message is encoded by the codec (which checks it against its JSON Schema),
checked again against the schema file directly, and decoded back to itself.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.config import load_config
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    CloseVote,
    CreateVote,
    GrantFloor,
    HoldVote,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    PublishVote,
    RegisterSpeaker,
    VoteKeyPressed,
)
from chamber.controller.core.model import Hall, Language, SpeakerList, VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.view import Audience, HallInfo, project, shown_vote
from chamber.controller.core.wall_text import answer_line
from chamber.controller.wall import (
    WALL_KINDS,
    WallStateError,
    current_vote,
    wall_changes,
    wall_messages,
)
from chamber.firmware_specs import spec_path
from chamber.protocols.mqtt import Message as WireMessage
from chamber.protocols.mqtt import (
    MessageKind,
    SeatMark,
    Topics,
    WallAttendance,
    WallFloor,
    WallItem,
    WallResult,
    WallSeats,
    WallSitting,
    WallVote,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"
CONFIG = load_config(EXAMPLE)
HALL: Hall = CONFIG.hall
TOPICS = Topics(CONFIG.hall_id)
SCHEMAS = spec_path("mqtt_asyncapi.yaml").parent / "schemas"
SCHEMA_FILE = {
    MessageKind.WALL_SITTING: "wall-sitting.json",
    MessageKind.WALL_ITEM: "wall-item.json",
    MessageKind.WALL_ATTENDANCE: "wall-attendance.json",
    MessageKind.WALL_VOTE: "wall-vote.json",
    MessageKind.WALL_RESULT: "wall-result.json",
    MessageKind.WALL_SEATS: "wall-seats.json",
    MessageKind.WALL_FLOOR: "wall-floor.json",
}
# Unix time minus the core's time, as a daemon would take it once at start.
OFFSET = 1_796_000_000.0
AGENDA = (
    AgendaItemSpec("nd-03", "Nghị quyết về kế hoạch đầu tư công trung hạn giai đoạn 2026–2030"),
    AgendaItemSpec("nd-04", "Miễn nhiệm đại biểu Hội đồng nhân dân tỉnh"),
)
VOTE_TITLE = "Nghị quyết về kế hoạch đầu tư công trung hạn giai đoạn 2026–2030"
PRESENT = range(1, 32)
PRESSES = {seat: 1 for seat in range(1, 28)} | {28: 2, 29: 2, 30: 3}


def _sitting(at: float = 100.0) -> MeetingCore:
    core = MeetingCore(HALL)
    core.handle(OpenSitting(at, "kh-12", "Kỳ họp thứ 12, Hội đồng nhân dân tỉnh khóa XV", AGENDA))
    for seat in PRESENT:
        core.handle(PresenceChanged(at, seat, True))
    return core


def _vote(core: MeetingCore, at: float, mode: VoteMode, presses: dict[int, int]) -> None:
    core.handle(CreateVote(at, "bq-07", VOTE_TITLE, mode=mode))
    core.handle(OpenVote(at, "bq-07"))
    for seat, key in presses.items():
        core.handle(VoteKeyPressed(at + 1, seat, key))


HALL_INFO: HallInfo = {
    "id": CONFIG.hall_id,
    "name": HALL.body.name,
    "short_name": HALL.body.short_name,
    "members": HALL.body.members,
    "language": HALL.language.value,
}


def wall_view(core: MeetingCore) -> dict[str, Any]:
    """The read model's wall view, through JSON exactly as the stream sends it."""
    view = project(core.snapshot(), HALL_INFO, {"lines": [], "units": []})[Audience.WALL]
    loaded: dict[str, Any] = json.loads(json.dumps(view))
    return loaded


def _messages(core: MeetingCore, now: float) -> dict[MessageKind, WireMessage | None]:
    return wall_messages(wall_view(core), HALL, now=now, unix_offset=OFFSET)


def _check_wire(messages: dict[MessageKind, WireMessage | None]) -> None:
    """Each message passes the codec's own checks, its schema file, and decodes to itself."""
    assert set(messages) == set(WALL_KINDS)
    for kind, message in messages.items():
        if message is None:
            continue
        assert message.kind is kind
        publication = TOPICS.publication(message)
        assert publication.retain
        schema = json.loads((SCHEMAS / SCHEMA_FILE[kind]).read_text(encoding="utf-8"))
        jsonschema.validate(json.loads(publication.payload), schema)
        assert TOPICS.decode(publication.topic, publication.payload) == message


def test_an_open_vote_carries_live_totals_and_each_seats_key() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.OPEN, PRESSES)
    messages = _messages(core, now=230.0)
    _check_wire(messages)
    vote = core.snapshot()["votes"][0]

    wall_vote = messages[MessageKind.WALL_VOTE]
    assert isinstance(wall_vote, WallVote)
    assert wall_vote.state == "open"
    assert wall_vote.totals == tuple(vote["tally"]["totals"])
    assert wall_vote.voted == len(PRESSES)
    assert wall_vote.entitled == len(PRESENT)
    assert wall_vote.answers == ("Tán thành", "Không tán thành", "Không biểu quyết")
    # 60 s from the open at 200: 30 s left at 230, ending at Unix time 260 + offset.
    assert wall_vote.deadline == pytest.approx(vote["deadline"] + OFFSET)
    assert wall_vote.remaining_s == pytest.approx(vote["deadline"] - 230.0)

    seats = messages[MessageKind.WALL_SEATS]
    assert isinstance(seats, WallSeats)
    marks = dict(seats.seats)
    assert {seat: marks[seat] for seat in PRESSES} == PRESSES
    assert marks[31] is SeatMark.PRESENT
    assert all(marks[n] is SeatMark.ABSENT for n in range(32, 51))
    assert messages[MessageKind.WALL_RESULT] is None

    sitting = messages[MessageKind.WALL_SITTING]
    assert sitting == WallSitting(
        state="open", id="kh-12", title="Kỳ họp thứ 12, Hội đồng nhân dân tỉnh khóa XV"
    )
    assert messages[MessageKind.WALL_ITEM] == WallItem(
        id="nd-03", title=AGENDA[0].title, number=1, count=2
    )
    attendance = messages[MessageKind.WALL_ATTENDANCE]
    assert isinstance(attendance, WallAttendance)
    quorum = core.snapshot()["quorum"]
    assert (attendance.present, attendance.needed, attendance.quorum) == (
        quorum["present"],
        quorum["required"],
        quorum["quorate"],
    )
    assert attendance.members == HALL.body.members


def test_a_secret_vote_has_no_totals_and_no_seat_choices() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.SECRET, PRESSES)
    messages = _messages(core, now=210.0)
    _check_wire(messages)
    wall_vote = messages[MessageKind.WALL_VOTE]
    assert isinstance(wall_vote, WallVote)
    assert wall_vote.mode == "secret"
    assert wall_vote.totals is None
    assert wall_vote.voted == len(PRESSES)
    seats = messages[MessageKind.WALL_SEATS]
    assert isinstance(seats, WallSeats)
    assert all(isinstance(mark, SeatMark) for _, mark in seats.seats)
    # While open the map says who has voted, never how, beside the count and no totals.
    marks = dict(seats.seats)
    assert {n for n, mark in marks.items() if mark is SeatMark.VOTED} == set(PRESSES)
    assert {n for n, mark in marks.items() if mark is SeatMark.PRESENT} == set(PRESENT) - set(
        PRESSES
    )
    assert {mark for _, mark in seats.seats} == {SeatMark.VOTED, SeatMark.PRESENT, SeatMark.ABSENT}

    core.handle(HoldVote(215.0, "bq-07"))
    held = _messages(core, now=220.0)
    _check_wire(held)
    held_vote = held[MessageKind.WALL_VOTE]
    assert isinstance(held_vote, WallVote)
    assert (held_vote.state, held_vote.deadline, held_vote.totals) == ("held", None, None)
    assert held_vote.remaining_s == pytest.approx(60.0 - 15.0)

    core.handle(CloseVote(221.0, "bq-07"))
    closed = _messages(core, now=222.0)
    _check_wire(closed)
    closed_vote = closed[MessageKind.WALL_VOTE]
    assert isinstance(closed_vote, WallVote)
    result = core.snapshot()["votes"][0]["result"]
    assert closed_vote.totals == tuple(t["count"] for t in result["totals"])
    closed_seats = closed[MessageKind.WALL_SEATS]
    assert isinstance(closed_seats, WallSeats)
    marks = dict(closed_seats.seats)
    # After the close: who took part, never how.
    assert all(isinstance(mark, SeatMark) for mark in marks.values())
    assert {s for s, m in marks.items() if m is SeatMark.VOTED} == set(PRESSES)


def test_the_result_is_the_cores_result() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.OPEN, PRESSES)
    core.handle(CloseVote(230.0, "bq-07"))
    core.handle(PublishVote(231.0, "bq-07"))
    messages = _messages(core, now=232.0)
    _check_wire(messages)
    vote = core.snapshot()["votes"][0]
    result, outcome = vote["result"], vote["result"]["outcome"]
    assert messages[MessageKind.WALL_RESULT] == WallResult(
        vote_id="bq-07",
        title=VOTE_TITLE,
        passed=outcome["adopted"],
        answers=("Tán thành", "Không tán thành", "Không biểu quyết"),
        totals=tuple(t["count"] for t in result["totals"]),
        did_not_vote=result["did_not_vote"],
        rule="vn-council",
        base=outcome["base_count"],
        needed=outcome["required"],
        explanation=outcome["explanation"],
        # Each answer's share of the total delegates, rounded down, as the web wall reads it.
        shares=tuple(
            answer_line(t["count"], result["all_members"], Language.VI) for t in result["totals"]
        ),
        present=result["present"],
        members=result["all_members"],
    )
    wall_vote = messages[MessageKind.WALL_VOTE]
    assert isinstance(wall_vote, WallVote)
    assert (wall_vote.state, wall_vote.deadline, wall_vote.remaining_s) == (
        "published",
        None,
        None,
    )
    seats = messages[MessageKind.WALL_SEATS]
    assert isinstance(seats, WallSeats)
    assert {s: m for s, m in seats.seats if isinstance(m, int)} == {
        c["seat"]: c["key"] for c in result["choices"]
    }


def test_the_floor_names_speakers_and_the_waiting_list_in_serving_order() -> None:
    core = _sitting()
    core.handle(RegisterSpeaker(300.0, 7, SpeakerList.SPEAK))
    core.handle(RegisterSpeaker(301.0, 8, SpeakerList.QUESTION))
    core.handle(RegisterSpeaker(302.0, 12, SpeakerList.REPLY))
    core.handle(GrantFloor(310.0, 9, None))
    messages = _messages(core, now=340.0)
    _check_wire(messages)
    floor = messages[MessageKind.WALL_FLOOR]
    assert isinstance(floor, WallFloor)
    names = {d.id: d.name for d in HALL.delegates}
    seat_of = {s.number: s.delegate for s in HALL.seats}
    (speaker,) = floor.speakers
    assert (speaker.seat, speaker.name, speaker.list) == (9, names[seat_of[9] or ""], "speak")
    limit = HALL.policies.floor.speak_time_s
    assert speaker.deadline == pytest.approx(310.0 + limit + OFFSET)
    assert speaker.remaining_s == pytest.approx(310.0 + limit - 340.0)
    assert speaker.overtime is False
    # The reply list is served first, then questions, then speeches (the chair's "next").
    assert [(w.seat, w.list) for w in floor.waiting] == [
        (12, "reply"),
        (8, "question"),
        (7, "speak"),
    ]
    assert [w.name for w in floor.waiting] == [names[seat_of[n] or ""] for n in (12, 8, 7)]

    late = _messages(core, now=310.0 + limit + 5)
    late_floor = late[MessageKind.WALL_FLOOR]
    assert isinstance(late_floor, WallFloor)
    assert late_floor.speakers[0].overtime is True
    assert late_floor.speakers[0].remaining_s == 0.0


def test_before_any_sitting_the_wall_clears_what_it_cannot_show() -> None:
    core = MeetingCore(HALL)
    messages = _messages(core, now=1.0)
    _check_wire(messages)
    for kind in (
        MessageKind.WALL_SITTING,
        MessageKind.WALL_ITEM,
        MessageKind.WALL_VOTE,
        MessageKind.WALL_RESULT,
        MessageKind.WALL_SEATS,
    ):
        assert messages[kind] is None, kind
    assert isinstance(messages[MessageKind.WALL_ATTENDANCE], WallAttendance)


def test_a_result_stays_with_its_item_only() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.OPEN, PRESSES)
    core.handle(CloseVote(230.0, "bq-07"))
    assert current_vote(wall_view(core)) is not None
    state = json.loads(json.dumps(core.snapshot()))
    assert shown_vote(state) is not None
    state["sitting"]["current_item"] = "nd-04"
    assert shown_vote(state) is None


def test_changes_leave_out_a_countdown_that_merely_runs() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.OPEN, {1: 1})
    first = _messages(core, now=205.0)
    later = _messages(core, now=215.0)
    assert first[MessageKind.WALL_VOTE] != later[MessageKind.WALL_VOTE]
    assert wall_changes(first, later) == []
    assert [kind for kind, _ in wall_changes({}, first)] == list(WALL_KINDS)
    core.handle(VoteKeyPressed(216.0, 2, 2))
    pressed = _messages(core, now=216.0)
    assert [kind for kind, _ in wall_changes(later, pressed)] == [
        MessageKind.WALL_VOTE,
        MessageKind.WALL_SEATS,
    ]
    core.handle(CloseVote(220.0, "bq-07"))
    closed = _messages(core, now=220.0)
    changes = dict(wall_changes(pressed, closed))
    assert isinstance(changes[MessageKind.WALL_RESULT], WallResult)


@pytest.mark.parametrize(
    ("state", "where"),
    [
        ([], "not a JSON object"),
        ({"sitting": "open"}, "sitting"),
        ({"vote": {"vote_id": "v", "state": "melted"}}, "vote.state"),
        ({"vote": {"vote_id": "v", "state": "open", "tally": {"voted": -1}}}, "vote.tally.voted"),
        ({"vote": "v"}, "vote"),
        ({"floor": {"mode": "shouting"}}, "floor.mode"),
        ({"floor": {"mode": "open", "at": float("nan"), "live": []}}, "floor.at"),
    ],
)
def test_a_state_that_is_not_the_daemons_gets_a_typed_error(state: Any, where: str) -> None:
    with pytest.raises(WallStateError, match=where):
        wall_messages(state, HALL, now=0.0, unix_offset=OFFSET)


def test_missing_keys_are_tolerated() -> None:
    messages = wall_messages({}, HALL, now=0.0, unix_offset=OFFSET)
    _check_wire(messages)
    assert messages[MessageKind.WALL_FLOOR] is None


_press = st.tuples(st.integers(1, 50), st.integers(1, 4))
_step = st.one_of(
    st.tuples(st.just("press"), _press),
    st.tuples(st.just("presence"), st.tuples(st.integers(1, 50), st.booleans())),
    st.tuples(st.just("hold"), st.none()),
    st.tuples(st.just("close"), st.none()),
    st.tuples(st.just("publish"), st.none()),
)


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(list(VoteMode)),
    steps=st.lists(_step, max_size=40),
    title=st.text(min_size=1, max_size=600).filter(lambda t: t.strip() != ""),
)
def test_any_vote_history_gives_valid_messages_and_keeps_secrets(
    mode: VoteMode, steps: list[tuple[str, Any]], title: str
) -> None:
    core = _sitting()
    core.handle(CreateVote(150.0, "bq-07", title, mode=mode, duration_s=600.0))
    core.handle(OpenVote(150.0, "bq-07"))
    at = 151.0
    for kind, arg in steps:
        at += 1.0
        # Commands refused in the current state change nothing; that is part of the history.
        with contextlib.suppress(CommandRejected):
            if kind == "press":
                core.handle(VoteKeyPressed(at, *arg))
            elif kind == "presence":
                core.handle(PresenceChanged(at, *arg))
            elif kind == "hold":
                core.handle(HoldVote(at, "bq-07"))
            elif kind == "close":
                core.handle(CloseVote(at, "bq-07"))
            else:
                core.handle(PublishVote(at, "bq-07"))
    messages = _messages(core, now=at)
    _check_wire(messages)
    wall_vote = messages[MessageKind.WALL_VOTE]
    seats = messages[MessageKind.WALL_SEATS]
    assert isinstance(wall_vote, WallVote)
    if mode is VoteMode.SECRET:
        assert isinstance(seats, WallSeats)
        assert all(isinstance(mark, SeatMark) for _, mark in seats.seats)
        if wall_vote.state in ("open", "held"):
            assert wall_vote.totals is None
    elif wall_vote.totals is not None:
        assert isinstance(seats, WallSeats)
        keyed = [mark for _, mark in seats.seats if isinstance(mark, int)]
        assert len(keyed) <= sum(wall_vote.totals)


def test_a_vote_without_live_totals_shows_who_has_voted_and_no_key() -> None:
    core = _sitting()
    core.handle(CreateVote(200.0, "bq-07", VOTE_TITLE, mode=VoteMode.OPEN, live_totals=False))
    core.handle(OpenVote(200.0, "bq-07"))
    for seat, key in PRESSES.items():
        core.handle(VoteKeyPressed(201.0, seat, key))
    view = wall_view(core)
    # The wall view itself carries no running total and no seat's key of this vote.
    assert view["show"]["counts"] is None
    assert view["show"]["choices"] == []
    assert view["vote"]["tally"] == {"voted": len(PRESSES)}
    assert "choices" not in view["vote"]
    messages = _messages(core, now=210.0)
    _check_wire(messages)
    wall_vote = messages[MessageKind.WALL_VOTE]
    assert isinstance(wall_vote, WallVote)
    assert wall_vote.totals is None
    assert wall_vote.voted == len(PRESSES)
    seats = messages[MessageKind.WALL_SEATS]
    assert isinstance(seats, WallSeats)
    marks = dict(seats.seats)
    assert all(isinstance(mark, SeatMark) for mark in marks.values())
    assert {n for n, mark in marks.items() if mark is SeatMark.VOTED} == set(PRESSES)
    # At the close the totals and the keys come, as for any open vote.
    core.handle(CloseVote(230.0, "bq-07"))
    closed = _messages(core, now=231.0)
    _check_wire(closed)
    result = closed[MessageKind.WALL_RESULT]
    assert isinstance(result, WallResult)
    assert result.totals == (27, 2, 1)
    closed_seats = closed[MessageKind.WALL_SEATS]
    assert isinstance(closed_seats, WallSeats)
    assert {n: m for n, m in closed_seats.seats if isinstance(m, int)} == PRESSES


def test_the_header_names_the_shown_votes_own_item() -> None:
    core = _sitting()
    # The vote open belongs to the second item while the first is current.
    core.handle(CreateVote(200.0, "bq-07", VOTE_TITLE, item_id="nd-04"))
    core.handle(OpenVote(200.0, "bq-07"))
    view = wall_view(core)
    assert view["sitting"]["current_item"] == "nd-03"
    assert view["item"]["id"] == "nd-04"
    item = _messages(core, now=201.0)[MessageKind.WALL_ITEM]
    assert isinstance(item, WallItem)
    assert (item.id, item.number, item.count) == ("nd-04", 2, 2)
    assert item.title == AGENDA[1].title
