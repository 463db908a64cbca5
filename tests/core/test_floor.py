"""The floor's rules, one at a time: modes, caps, lists, priority, speaking time, override."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import (
    Chime,
    Effect,
    MicSwitch,
    Notification,
    RingShow,
    RingState,
)
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.floor import (
    GRANT_ORDER,
    MODE_RULES,
    Floor,
    FloorPolicyError,
    Speech,
)
from chamber.controller.core.inputs import (
    ApiChairPriority,
    ChairPriority,
    CloseVote,
    ExtendSpeakingTime,
    GrantFloor,
    GrantNext,
    Input,
    MicCancel,
    MicOverride,
    MicRequest,
    RegisterSpeaker,
    RevokeFloor,
    SetMicMode,
    SetSpeakingTime,
    TalkButton,
    Tick,
    VoiceLevel,
    VoteKeyPressed,
)
from chamber.controller.core.limits import (
    MAX_TURN_S,
    MAX_TURN_WARNING_S,
    MAX_VOICE_HOLD_S,
    MIN_VOICE_OPEN_DB,
)
from chamber.controller.core.model import (
    AtZero,
    Body,
    Delegate,
    FloorPolicy,
    Hall,
    MicClass,
    MicMode,
    Policies,
    PriorityMode,
    Role,
    Seat,
    SpeakerList,
)

CHAIR = 100
VIP = 101
NO_MIC = 102
UNKNOWN = 999


def make_hall(delegates: int = 10, **floor: Any) -> Hall:
    """Seats 1..n for delegates (odd seats in one group, even in the other), a chair, a VIP."""
    people = [
        Delegate(
            id=f"d{i}",
            name=f"Đại biểu Nguyễn Thị {i}",
            group="Tổ đại biểu số 1" if i % 2 else "Tổ đại biểu số 2",
        )
        for i in range(1, delegates + 1)
    ]
    people.append(Delegate(id="chair", name="Chủ tọa Trần Văn Ánh", role=Role.CHAIR))
    people.append(Delegate(id="guest", name="Khách mời", voting=False))
    seats = [Seat(number=i, row=1, col=i, delegate=f"d{i}") for i in range(1, delegates + 1)]
    seats.append(Seat(number=CHAIR, row=0, col=1, delegate="chair", mic_class=MicClass.CHAIR))
    seats.append(Seat(number=VIP, row=0, col=2, delegate="guest", mic_class=MicClass.VIP))
    seats.append(Seat(number=NO_MIC, row=0, col=3, has_mic=False))
    return Hall(
        body=Body(name="Hội đồng nhân dân tỉnh", members=delegates),
        delegates=tuple(people),
        seats=tuple(seats),
        policies=Policies(floor=FloorPolicy(**floor)),
    )


class Units:
    """The hall's microphone units as the floor's effects leave them.

    Fails a test when an effect repeats what the unit already shows: the floor must send
    only changes.
    """

    def __init__(self) -> None:
        self.mic: dict[int, bool] = {}
        self.ring: dict[int, tuple[RingState, int]] = {}

    def apply(self, effects: list[Effect]) -> list[Effect]:
        for e in effects:
            if isinstance(e, MicSwitch):
                assert e.seat is not None
                assert self.mic.get(e.seat, False) != e.on, f"repeated {e}"
                self.mic[e.seat] = e.on
            elif isinstance(e, RingShow):
                assert e.seat is not None
                shown = (e.state, e.position)
                assert self.ring.get(e.seat, (RingState.OFF, 0)) != shown, f"repeated {e}"
                self.ring[e.seat] = shown
        return effects

    def open_mics(self) -> set[int]:
        return {seat for seat, on in self.mic.items() if on}

    def ring_of(self, seat: int) -> tuple[RingState, int]:
        return self.ring.get(seat, (RingState.OFF, 0))


class Bench:
    """A floor, a fake clock and the units, driven the way the runtime drives them."""

    def __init__(self, hall: Hall, start: float = 1000.0) -> None:
        self.floor = Floor(hall)
        self.clock = FakeClock(start)
        self.units = Units()

    def send(self, make: Any, /, *args: Any, **kwargs: Any) -> list[Effect]:
        inp: Input = make(self.clock.now(), *args, **kwargs)
        return self.units.apply(self.floor.handle(inp))

    def wait(self, seconds: float) -> list[Effect]:
        """Let time pass, ticking at every deadline on the way, as the runtime does."""
        target = self.clock.now() + seconds
        effects: list[Effect] = []
        while (deadline := self.floor.next_deadline()) is not None and deadline <= target:
            self.clock.set(max(deadline, self.clock.now()))
            effects += self.send(Tick)
        self.clock.set(target)
        return effects

    def set_item(self, item: str | None) -> list[Effect]:
        return self.units.apply(self.floor.set_item(item, self.clock.now()))


def topics(effects: list[Effect]) -> list[str]:
    return [e.topic for e in effects if isinstance(e, Notification)]


def notes(effects: list[Effect], topic: str) -> list[dict[str, Any]]:
    return [e.data for e in effects if isinstance(e, Notification) and e.topic == topic]


def note(effects: list[Effect], topic: str) -> dict[str, Any]:
    found = [e.data for e in effects if isinstance(e, Notification) and e.topic == topic]
    assert len(found) == 1, f"{topic}: {topics(effects)}"
    return found[0]


def unit_commands(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if isinstance(e, MicSwitch | RingShow)]


def waiting(floor: Floor, lst: SpeakerList = SpeakerList.SPEAK) -> list[int]:
    return [w["seat"] for w in floor.snapshot()["waiting"][lst.value]]


def live(floor: Floor) -> list[int]:
    return [t["seat"] for t in floor.snapshot()["live"]]


# --- the rule table -------------------------------------------------------------------------


def test_every_mode_has_one_row_of_rules() -> None:
    assert set(MODE_RULES) == set(MicMode)
    assert GRANT_ORDER == (SpeakerList.REPLY, SpeakerList.QUESTION, SpeakerList.SPEAK)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_open", 0),
        ("max_open", 26),
        ("max_requests", -1),
        ("max_requests", 251),
        ("speak_time_s", -1.0),
        ("speak_time_s", MAX_TURN_S + 1),
        ("reply_time_s", MAX_TURN_S + 1),
        ("warning_s", float("nan")),
        ("warning_s", MAX_TURN_WARNING_S + 1),
        ("voice_hold_s", 0.0),
        ("voice_hold_s", MAX_VOICE_HOLD_S + 1),
        ("voice_open_db", float("inf")),
        ("voice_open_db", MIN_VOICE_OPEN_DB - 1),
    ],
)
def test_a_policy_out_of_range_is_refused(field: str, value: float) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(FloorPolicyError, match=field):
        Floor(make_hall(**overrides))


def test_other_inputs_are_not_the_floors_business() -> None:
    floor = Floor(make_hall())
    assert floor.handle(VoteKeyPressed(at=1.0, seat=1, key=1)) == []
    assert floor.handle(CloseVote(at=2.0, vote_id="x")) == []


# --- request mode ---------------------------------------------------------------------------


def test_request_mode_queues_presses_and_shows_positions() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    first = b.send(MicRequest, 3)
    assert unit_commands(first) == [RingShow(seat=3, state=RingState.NEXT, position=1)]
    assert note(first, "floor.request-added")["position"] == 1
    assert "floor.changed" in topics(first)
    second = b.send(MicRequest, 5)
    # Only the newcomer's ring changes: the seat ahead keeps what it shows.
    assert unit_commands(second) == [RingShow(seat=5, state=RingState.QUEUED, position=2)]
    b.send(MicRequest, 7)
    assert waiting(b.floor) == [3, 5, 7]
    assert b.units.open_mics() == set()


def test_a_second_press_withdraws_and_those_behind_move_up() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    for seat in (3, 5, 7, 9):
        b.send(MicRequest, seat)
    effects = b.send(MicRequest, 5)
    assert note(effects, "floor.request-removed") == {
        "seat": 5,
        "list": "speak",
        "reason": "withdrawn",
    }
    # Seat 3 stays first and is not told again; 7 and 9 move up one place each.
    assert unit_commands(effects) == [
        RingShow(seat=5, state=RingState.OFF),
        RingShow(seat=7, state=RingState.QUEUED, position=2),
        RingShow(seat=9, state=RingState.QUEUED, position=3),
    ]
    effects = b.send(MicCancel, 3)
    assert unit_commands(effects) == [
        RingShow(seat=3, state=RingState.OFF),
        RingShow(seat=7, state=RingState.NEXT, position=1),
        RingShow(seat=9, state=RingState.QUEUED, position=2),
    ]


def test_grant_next_takes_reply_then_question_then_speak() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=3))
    b.send(MicRequest, 1, SpeakerList.SPEAK)
    b.send(MicRequest, 2, SpeakerList.QUESTION)
    b.send(MicRequest, 3, SpeakerList.REPLY)
    # The reply is next, though it asked last; each list counts its own positions.
    assert b.units.ring_of(3) == (RingState.NEXT, 1)
    assert b.units.ring_of(2) == (RingState.QUEUED, 1)
    assert b.units.ring_of(1) == (RingState.QUEUED, 1)
    assert b.floor.snapshot()["next"] == 3

    effects = b.send(GrantNext)
    assert MicSwitch(seat=3, on=True) in effects
    assert RingShow(seat=3, state=RingState.LIVE) in effects
    assert RingShow(seat=2, state=RingState.NEXT, position=1) in effects
    started = note(effects, "floor.speech-started")
    assert started["list"] == "reply"
    assert started["limit_s"] == 180.0
    b.send(GrantNext, SpeakerList.SPEAK)
    assert live(b.floor) == [3, 1]
    b.send(GrantNext)
    assert live(b.floor) == [3, 1, 2]
    with pytest.raises(CommandRejected) as err:
        b.send(GrantNext)
    assert err.value.kind == "conflict"


def test_grant_next_on_an_empty_list_is_a_conflict() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.send(MicRequest, 1)
    with pytest.raises(CommandRejected, match="question"):
        b.send(GrantNext, SpeakerList.QUESTION)
    assert waiting(b.floor) == [1]


def test_a_grant_at_the_cap_switches_off_the_mic_open_longest() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=2))
    b.send(GrantFloor, 1)
    b.clock.advance(10)
    b.send(GrantFloor, 2)
    b.clock.advance(10)
    effects = b.send(GrantFloor, 3)
    mics = [e for e in effects if isinstance(e, MicSwitch)]
    # Off before on: the amplifier never sees three delegate microphones.
    assert mics == [MicSwitch(seat=1, on=False), MicSwitch(seat=3, on=True)]
    assert note(effects, "floor.speech-ended")["reason"] == "replaced"
    assert b.floor.speeches == [
        Speech(seat=1, delegate_id="d1", list=SpeakerList.SPEAK, start=1000, end=1020, overtime_s=0)
    ]
    assert b.units.open_mics() == {2, 3}


def test_grant_takes_a_waiting_seat_off_its_list() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=2))
    b.send(MicRequest, 4, SpeakerList.QUESTION)
    b.send(MicRequest, 6, SpeakerList.QUESTION)
    effects = b.send(GrantFloor, 6)
    assert note(effects, "floor.speech-started")["list"] == "question"
    assert note(effects, "floor.request-removed")["reason"] == "granted"
    assert waiting(b.floor, SpeakerList.QUESTION) == [4]
    # A grant may name another list than the one the seat waited on.
    b.send(GrantFloor, 4, SpeakerList.REPLY)
    assert b.floor.snapshot()["live"][1]["list"] == "reply"


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (lambda at: GrantFloor(at, UNKNOWN), "not-found"),
        (lambda at: GrantFloor(at, NO_MIC), "invalid"),
        (lambda at: GrantFloor(at, 1), "conflict"),
        (lambda at: RegisterSpeaker(at, UNKNOWN), "not-found"),
        (lambda at: RegisterSpeaker(at, 1), "conflict"),
        (lambda at: RegisterSpeaker(at, 2), "conflict"),
        (lambda at: RevokeFloor(at, UNKNOWN), "not-found"),
        (lambda at: RevokeFloor(at, 3), "conflict"),
        (lambda at: MicOverride(at, UNKNOWN, True), "not-found"),
        (lambda at: SetMicMode(at, MicMode.OPEN, 0), "invalid"),
        (lambda at: SetMicMode(at, MicMode.OPEN, 26), "invalid"),
        (lambda at: SetSpeakingTime(at, SpeakerList.SPEAK, -5), "invalid"),
        (lambda at: SetSpeakingTime(at, SpeakerList.SPEAK, float("nan")), "invalid"),
        (lambda at: SetSpeakingTime(at, SpeakerList.SPEAK, MAX_TURN_S + 1), "invalid"),
        (lambda at: ExtendSpeakingTime(at, 1, MAX_TURN_S + 1), "invalid"),
        (lambda at: ExtendSpeakingTime(at, 1, 0), "invalid"),
        (lambda at: ExtendSpeakingTime(at, 3, 60), "conflict"),
        (lambda at: ExtendSpeakingTime(at, UNKNOWN, 60), "not-found"),
    ],
)
def test_bad_chair_commands_are_rejected_and_change_nothing(command: Any, code: str) -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.send(GrantFloor, 1)
    b.send(MicRequest, 2)
    before = b.floor.snapshot()
    with pytest.raises(CommandRejected) as err:
        b.floor.handle(command(b.clock.now()))
    assert err.value.kind == code
    assert b.floor.snapshot() == before
    assert b.floor.handle(Tick(b.clock.now())) == []


def test_register_speaker_puts_a_seat_on_the_chosen_list() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    effects = b.send(RegisterSpeaker, 8, SpeakerList.QUESTION)
    assert note(effects, "floor.request-added")["list"] == "question"
    assert waiting(b.floor, SpeakerList.QUESTION) == [8]


def test_revoke_takes_the_floor_or_the_request_away() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=3))
    b.send(GrantFloor, 1)
    b.send(GrantFloor, VIP)
    b.send(MicRequest, CHAIR)  # the chair's own microphone
    b.send(MicRequest, 2)
    b.send(MicRequest, 3)
    effects = b.send(RevokeFloor, 2)
    assert note(effects, "floor.request-removed")["reason"] == "revoked"
    effects = b.send(RevokeFloor)
    # "All off" takes every speaker but the chair; the list stays for the chair to work.
    assert [d["seat"] for d in notes(effects, "floor.speech-ended")] == [1, VIP]
    assert live(b.floor) == [CHAIR]
    assert waiting(b.floor) == [3]


# --- open mode ------------------------------------------------------------------------------


def test_open_mode_opens_up_to_the_cap_then_queues_and_serves_first_come() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=2))
    effects = b.send(MicRequest, 1)
    assert unit_commands(effects) == [
        MicSwitch(seat=1, on=True),
        RingShow(seat=1, state=RingState.LIVE),
    ]
    b.send(MicRequest, 2)
    effects = b.send(MicRequest, 3)
    assert unit_commands(effects) == [RingShow(seat=3, state=RingState.NEXT, position=1)]
    b.send(MicRequest, 4)
    b.send(MicRequest, 5, SpeakerList.REPLY)
    assert b.units.open_mics() == {1, 2}
    b.clock.advance(45)
    # The first speaker switches off: the reply, first in grant order, opens at once.
    effects = b.send(MicRequest, 1)
    assert unit_commands(effects)[:2] == [MicSwitch(seat=1, on=False), MicSwitch(seat=5, on=True)]
    assert note(effects, "floor.speech-started")["origin"] == "queue"
    assert b.units.open_mics() == {2, 5}
    assert b.units.ring_of(3) == (RingState.NEXT, 1)
    b.send(MicCancel, 2)
    assert b.units.open_mics() == {3, 5}
    assert b.units.ring_of(4) == (RingState.NEXT, 1)


def test_open_mode_refuses_beyond_the_waiting_list() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=1, max_requests=1))
    b.send(MicRequest, 1)
    b.send(MicRequest, 2)
    effects = b.send(MicRequest, 3)
    assert note(effects, "floor.request-rejected") == {
        "seat": 3,
        "list": "speak",
        "reason": "list-full",
    }
    assert unit_commands(effects) == []
    assert "floor.changed" not in topics(effects)


def test_a_hall_without_a_waiting_list_rejects_every_request() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_requests=0))
    effects = b.send(MicRequest, 1)
    assert note(effects, "floor.request-rejected")["reason"] == "list-full"
    with pytest.raises(CommandRejected, match="full"):
        b.send(RegisterSpeaker, 1)


def test_switching_to_open_mode_serves_the_waiting_list() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=2))
    for seat in (1, 2, 3):
        b.send(MicRequest, seat)
    effects = b.send(SetMicMode, MicMode.OPEN)
    assert note(effects, "floor.mode") == {"mode": "open", "max_open": 2}
    assert b.units.open_mics() == {1, 2}
    assert b.units.ring_of(3) == (RingState.NEXT, 1)


def test_lowering_the_cap_closes_the_mics_open_longest() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=3))
    for seat in (1, 2, 3):
        b.send(MicRequest, seat)
        b.clock.advance(5)
    b.send(MicRequest, CHAIR)
    effects = b.send(SetMicMode, MicMode.OPEN, 1)
    ended = notes(effects, "floor.speech-ended")
    assert [(d["seat"], d["reason"]) for d in ended] == [(1, "cap-lowered"), (2, "cap-lowered")]
    assert b.units.open_mics() == {3, CHAIR}


# --- override mode --------------------------------------------------------------------------


def test_override_mode_switches_off_the_speaker_open_longest() -> None:
    b = Bench(make_hall(mode=MicMode.OVERRIDE, max_open=2))
    b.send(MicRequest, 1)
    b.clock.advance(1)
    b.send(MicRequest, 2)
    b.clock.advance(1)
    effects = b.send(MicRequest, 3)
    assert [e for e in effects if isinstance(e, MicSwitch)] == [
        MicSwitch(seat=1, on=False),
        MicSwitch(seat=3, on=True),
    ]
    b.clock.advance(1)
    b.send(MicRequest, 4)
    assert b.units.open_mics() == {3, 4}
    assert [s.seat for s in b.floor.speeches] == [1, 2]
    assert waiting(b.floor) == []


# --- voice-activated mode -------------------------------------------------------------------


def test_voice_opens_on_speech_and_closes_after_the_hold_time() -> None:
    b = Bench(make_hall(mode=MicMode.VOICE, max_open=1, voice_open_db=-30.0, voice_hold_s=3.0))
    assert b.send(VoiceLevel, 1, -45.0) == []
    effects = b.send(VoiceLevel, 1, -20.0)
    assert MicSwitch(seat=1, on=True) in effects
    assert note(effects, "floor.speech-started")["origin"] == "voice"
    # At the cap another speaker's voice is dropped without a flood of notifications.
    assert b.send(VoiceLevel, 2, -10.0) == []
    b.clock.advance(10)
    b.send(VoiceLevel, 1, -50.0)  # a pause
    b.clock.advance(2)
    b.send(VoiceLevel, 1, -25.0)  # speaks again before the hold runs out
    b.clock.advance(1)
    b.send(VoiceLevel, 1, -60.0)
    assert b.floor.next_deadline() == b.clock.now() + 3.0
    assert b.wait(2.9) == []
    effects = b.wait(0.2)
    assert MicSwitch(seat=1, on=False) in effects
    assert note(effects, "floor.speech-ended")["reason"] == "silence"
    assert b.floor.speeches[0].duration_s == pytest.approx(16.0)
    b.send(VoiceLevel, 2, -10.0)
    assert b.units.open_mics() == {2}


def test_voice_levels_outside_voice_mode_are_ignored() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    assert b.send(VoiceLevel, 1, 0.0) == []
    assert b.send(VoiceLevel, UNKNOWN, 0.0) == []


def test_a_press_in_voice_mode_is_ignored_with_a_notification() -> None:
    b = Bench(make_hall(mode=MicMode.VOICE))
    effects = b.send(MicRequest, 1)
    assert note(effects, "floor.input-ignored")["reason"] == "mode"
    assert unit_commands(effects) == []


# --- push-to-talk ---------------------------------------------------------------------------


def test_push_to_talk_is_on_while_held() -> None:
    b = Bench(make_hall(mode=MicMode.PUSH_TO_TALK, max_open=1))
    effects = b.send(TalkButton, 4, True)
    assert MicSwitch(seat=4, on=True) in effects
    effects = b.send(TalkButton, 5, True)
    assert note(effects, "floor.request-rejected")["reason"] == "cap"
    b.clock.advance(12)
    effects = b.send(TalkButton, 4, False)
    assert MicSwitch(seat=4, on=False) in effects
    assert note(effects, "floor.speech-ended")["duration_s"] == 12
    # A stray release changes nothing.
    assert b.send(TalkButton, 4, False) == []


def test_talk_button_outside_push_to_talk_is_ignored() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN))
    effects = b.send(TalkButton, 4, True)
    assert note(effects, "floor.input-ignored")["reason"] == "mode"


# --- chair and VIP seats --------------------------------------------------------------------


def test_chair_and_vip_mics_open_directly_and_do_not_count() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=1))
    b.send(GrantFloor, 1)
    b.send(MicRequest, CHAIR)
    b.send(MicRequest, VIP)
    assert b.units.open_mics() == {1, CHAIR, VIP}
    snap = b.floor.snapshot()
    assert snap["caps"]["open"] == 1
    chair = next(t for t in snap["live"] if t["seat"] == CHAIR)
    assert chair["limit_s"] == 0
    assert chair["time_left_s"] is None
    b.send(MicRequest, CHAIR)
    assert b.units.open_mics() == {1, VIP}


# --- chair priority -------------------------------------------------------------------------


def test_priority_mutes_delegates_while_held_and_restores_them() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=2))
    b.send(MicRequest, 1)
    b.send(MicRequest, 2)
    b.send(MicRequest, CHAIR)
    b.send(MicRequest, 3)
    effects = b.send(ChairPriority, CHAIR, True)
    assert effects.count(Chime()) == 1
    assert b.units.open_mics() == {CHAIR}
    assert b.units.ring_of(1) == (RingState.PRIORITY, 0)
    assert note(effects, "floor.priority")["active"] is True
    # Requests survive a mute, and the chair may still grant: the turn starts muted.
    assert waiting(b.floor) == [3]
    b.send(GrantFloor, 4)
    assert b.units.ring_of(4) == (RingState.PRIORITY, 0)
    effects = b.send(ChairPriority, CHAIR, False)
    assert Chime() not in effects
    assert b.units.open_mics() == {2, 4, CHAIR}
    assert b.units.ring_of(2) == (RingState.LIVE, 0)


def test_priority_all_off_ends_turns_and_clears_the_lists() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=1, chair_priority=PriorityMode.ALL_OFF))
    b.send(MicRequest, 1)
    b.send(MicRequest, 2)
    b.send(MicRequest, 3)
    b.send(MicRequest, VIP)
    b.clock.advance(30)
    effects = b.send(ApiChairPriority, True)
    assert Chime() in effects
    assert note(effects, "floor.speech-ended")["reason"] == "priority"
    assert note(effects, "floor.requests-cleared") == {"count": 2, "reason": "priority"}
    assert b.units.open_mics() == {VIP}
    assert b.units.ring_of(2) == (RingState.OFF, 0)
    assert b.units.ring_of(3) == (RingState.OFF, 0)
    b.send(ApiChairPriority, False)
    assert b.units.open_mics() == {VIP}
    assert b.floor.snapshot()["priority"]["active"] is False


def test_priority_key_on_a_delegate_seat_is_rejected() -> None:
    b = Bench(make_hall())
    effects = b.send(ChairPriority, 5, True)
    assert note(effects, "floor.priority-rejected") == {"seat": 5, "reason": "not-a-chair-seat"}
    assert Chime() not in effects
    assert b.floor.snapshot()["priority"]["active"] is False


def test_priority_from_chair_and_console_stays_until_both_release() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.send(GrantFloor, 1)
    b.send(ChairPriority, CHAIR, True)
    assert Chime() not in b.send(ApiChairPriority, True)
    b.send(ChairPriority, CHAIR, False)
    assert b.units.open_mics() == set()
    b.send(ApiChairPriority, False)
    assert b.units.open_mics() == {1}


# --- speaking time --------------------------------------------------------------------------


def test_a_seven_minute_turn_warns_at_thirty_seconds_and_runs_over() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, speak_time_s=420.0, warning_s=30.0))
    b.send(GrantFloor, 1)
    assert b.floor.next_deadline() == 1000.0 + 390.0
    assert b.wait(389.0) == []
    effects = b.wait(1.0)
    assert unit_commands(effects) == [RingShow(seat=1, state=RingState.WARNING)]
    assert note(effects, "floor.warning") == {"seat": 1, "delegate": "d1", "time_left_s": 30.0}
    assert b.floor.next_deadline() == 1420.0
    effects = b.wait(30.0)
    assert note(effects, "floor.overtime") == {"seat": 1, "delegate": "d1"}
    assert unit_commands(effects) == []  # still live, still showing the warning
    assert b.floor.next_deadline() is None
    b.clock.advance(25)
    b.send(Tick)
    assert b.floor.snapshot()["live"][0]["overtime_s"] == 25.0
    b.clock.advance(5)
    b.send(MicRequest, 1)
    assert b.floor.speeches == [
        Speech(
            seat=1, delegate_id="d1", list=SpeakerList.SPEAK, start=1000, end=1450, overtime_s=30
        )
    ]


def test_cut_at_zero_switches_the_mic_off_and_serves_the_next() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=1, question_time_s=180.0, at_zero=AtZero.CUT))
    b.send(MicRequest, 1, SpeakerList.QUESTION)
    b.send(MicRequest, 2)
    effects = b.wait(180.0)
    assert topics(effects)[:2] == ["floor.warning", "floor.changed"]
    ended = note(effects, "floor.speech-ended")
    assert ended["reason"] == "time-up"
    assert ended["overtime_s"] == 0.0
    assert b.units.open_mics() == {2}
    assert b.floor.snapshot()["live"][0]["time_left_s"] == 420.0


def test_a_tick_that_comes_late_fires_every_timer_due() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, speak_time_s=60.0, warning_s=10.0))
    b.send(GrantFloor, 1)
    b.clock.advance(75)
    effects = b.send(Tick)
    assert topics(effects)[:2] == ["floor.warning", "floor.overtime"]
    assert b.floor.snapshot()["live"][0]["overtime_s"] == 15.0


def test_a_turn_shorter_than_the_warning_starts_warned() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, reply_time_s=20.0, warning_s=30.0))
    b.send(MicRequest, 1, SpeakerList.REPLY)
    effects = b.send(GrantNext)
    assert RingShow(seat=1, state=RingState.WARNING) in effects
    assert note(effects, "floor.warning")["time_left_s"] == 20.0
    assert b.floor.next_deadline() == 1020.0


def test_speaking_time_changes_apply_to_the_next_turns() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=2))
    b.send(GrantFloor, 1)
    effects = b.send(SetSpeakingTime, SpeakerList.SPEAK, 180.0)
    assert note(effects, "floor.speaking-time") == {"list": "speak", "seconds": 180.0}
    b.send(GrantFloor, 2)
    limits = {t["seat"]: t["limit_s"] for t in b.floor.snapshot()["live"]}
    assert limits == {1: 420.0, 2: 180.0}


def test_no_limit_means_no_timer() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, speak_time_s=0.0))
    b.send(GrantFloor, 1)
    assert b.floor.next_deadline() is None
    with pytest.raises(CommandRejected, match="without a time limit"):
        b.send(ExtendSpeakingTime, 1, 60.0)


def test_extending_a_warned_turn_puts_the_ring_back_to_live() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, speak_time_s=420.0, warning_s=30.0))
    b.send(GrantFloor, 1)
    b.wait(400.0)
    assert b.units.ring_of(1) == (RingState.WARNING, 0)
    effects = b.send(ExtendSpeakingTime, 1, 120.0)
    assert unit_commands(effects) == [RingShow(seat=1, state=RingState.LIVE)]
    assert note(effects, "floor.time-extended")["time_left_s"] == 140.0
    assert b.floor.next_deadline() == 1000.0 + 540.0 - 30.0
    b.wait(140.0)
    assert b.units.ring_of(1) == (RingState.WARNING, 0)
    b.wait(10.0)
    b.send(ExtendSpeakingTime, 1, 5.0)  # out of overtime, but inside the warning
    assert b.units.ring_of(1) == (RingState.WARNING, 0)
    b.send(MicCancel, 1)
    assert b.floor.speeches[0].overtime_s == 5.0


# --- the technician's override ---------------------------------------------------------------


def test_a_forced_mic_is_outside_the_rules_and_recorded() -> None:
    b = Bench(make_hall(mode=MicMode.OVERRIDE, max_open=1, speak_time_s=60.0))
    effects = b.send(MicOverride, 6, True)
    assert note(effects, "floor.override")["on"] is True
    assert note(effects, "floor.speech-started")["forced"] is True
    # Not counted: a delegate can still open, and override mode does not switch 6 off.
    b.send(MicRequest, 1)
    b.send(MicRequest, 2)
    assert b.units.open_mics() == {2, 6}
    b.send(ApiChairPriority, True)
    assert b.units.open_mics() == {6}
    b.send(ApiChairPriority, False)
    # Only seat 2's turn has timers (warning at 30 s of 60): the forced mic has no limit.
    assert b.floor.next_deadline() == 1030.0
    effects = b.send(MicRequest, 6)
    assert note(effects, "floor.input-ignored")["reason"] == "forced-on"
    b.set_item("item-2")
    assert b.units.open_mics() == {6}
    b.clock.advance(200)
    effects = b.send(MicOverride, 6, False)
    assert MicSwitch(seat=6, on=False) in effects
    speech = b.floor.speeches[-1]
    assert (speech.seat, speech.forced, speech.duration_s) == (6, True, 200.0)


def test_forcing_a_live_mic_takes_it_out_of_the_cap() -> None:
    b = Bench(make_hall(mode=MicMode.OPEN, max_open=1))
    b.send(MicRequest, 1)
    b.send(MicRequest, 2)
    effects = b.send(MicOverride, 1, True)
    # Seat 1 no longer holds the only place: the waiting seat opens.
    assert MicSwitch(seat=2, on=True) in effects
    assert b.units.open_mics() == {1, 2}
    forced = next(t for t in b.floor.snapshot()["live"] if t["seat"] == 1)
    assert forced["forced"] is True
    assert forced["counted"] is False


def test_forcing_off_an_idle_seat_is_recorded_and_harmless() -> None:
    b = Bench(make_hall())
    effects = b.send(MicOverride, 3, False)
    assert note(effects, "floor.override") == {
        "seat": 3,
        "on": False,
        "delegate": "d3",
        "was_live": False,
    }
    assert unit_commands(effects) == []


# --- agenda items ---------------------------------------------------------------------------


def test_each_item_keeps_its_lists_and_starts_quiet() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=2))
    b.set_item("budget")
    b.send(MicRequest, 1)
    b.send(MicRequest, 2)
    b.send(GrantFloor, 3)
    b.send(MicRequest, CHAIR)
    b.clock.advance(60)
    effects = b.set_item("schools")
    assert note(effects, "floor.item") == {"item": "schools"}
    assert note(effects, "floor.speech-ended")["reason"] == "item-changed"
    assert b.units.open_mics() == {CHAIR}
    assert b.units.ring_of(1) == (RingState.OFF, 0)
    b.send(MicRequest, 2)
    assert b.units.ring_of(2) == (RingState.NEXT, 1)
    effects = b.set_item("budget")
    # Back to the first item: its list returns; seat 2 was on both and shows its old place.
    assert unit_commands(effects) == [
        RingShow(seat=2, state=RingState.QUEUED, position=2),
        RingShow(seat=1, state=RingState.NEXT, position=1),
    ]
    assert waiting(b.floor) == [1, 2]
    assert b.set_item("budget") == []


def test_a_seat_that_speaks_leaves_the_list_of_the_item_it_returns_to() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.set_item("a")
    b.send(MicRequest, 1)
    b.set_item("b")
    b.send(MicOverride, 1, True)
    b.set_item("a")
    assert waiting(b.floor) == []
    assert b.units.ring_of(1) == (RingState.LIVE, 0)


# --- unit inputs never raise ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda at, seat: MicRequest(at, seat),
        lambda at, seat: MicCancel(at, seat),
        lambda at, seat: TalkButton(at, seat, True),
        lambda at, seat: ChairPriority(at, seat, True),
    ],
)
@pytest.mark.parametrize(("seat", "reason"), [(UNKNOWN, "unknown-seat"), (NO_MIC, "no-microphone")])
def test_unit_inputs_from_a_bad_seat_are_ignored_with_a_notification(
    make: Any, seat: int, reason: str
) -> None:
    floor = Floor(make_hall(mode=MicMode.PUSH_TO_TALK))
    effects = floor.handle(make(1.0, seat))
    assert note(effects, "floor.input-ignored")["reason"] == reason
    assert unit_commands(effects) == []


def test_cancel_on_an_idle_seat_is_ignored() -> None:
    b = Bench(make_hall())
    assert note(b.send(MicCancel, 1), "floor.input-ignored")["reason"] == "idle"


# --- totals, snapshot, restate --------------------------------------------------------------


def test_totals_per_delegate_and_group_include_running_turns() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST, max_open=2))
    b.send(GrantFloor, 1)
    b.clock.advance(100)
    b.send(MicCancel, 1)
    b.send(GrantFloor, 3)
    b.send(GrantFloor, 2)
    b.clock.advance(40)
    b.send(MicCancel, 2)
    b.clock.advance(20)
    b.send(GrantFloor, 1)
    b.clock.advance(10)
    b.send(Tick)
    totals = b.floor.speaking_totals()
    assert totals.by_delegate == {"d1": 110.0, "d2": 40.0, "d3": 70.0}
    assert totals.turns_by_delegate == {"d1": 2, "d2": 1, "d3": 1}
    assert totals.by_group == {"Tổ đại biểu số 1": 180.0, "Tổ đại biểu số 2": 40.0}
    assert b.floor.snapshot()["totals"]["delegates"]["d1"] == {"seconds": 110.0, "turns": 2}


def test_set_delegate_names_who_sits_at_a_seat() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.floor.set_delegate(1, "d9")
    b.send(GrantFloor, 1)
    assert b.floor.snapshot()["live"][0]["delegate"] == "d9"
    with pytest.raises(CommandRejected):
        b.floor.set_delegate(UNKNOWN, "d1")


def test_snapshot_is_json_and_keeps_vietnamese_text() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.set_item("Nghị quyết về ngân sách")
    b.send(GrantFloor, 1)
    b.send(MicRequest, 2, SpeakerList.QUESTION)
    b.clock.advance(30)
    b.send(Tick)
    snap = b.floor.snapshot()
    assert json.loads(json.dumps(snap, ensure_ascii=False)) == snap
    assert snap["item"] == "Nghị quyết về ngân sách"
    assert snap["live"][0]["time_left_s"] == 390.0
    assert snap["waiting"]["question"] == [
        {"seat": 2, "delegate": "d2", "position": 1, "since": 1000.0}
    ]
    assert snap["totals"]["groups"] == {"Tổ đại biểu số 1": 30.0}
    assert Floor(make_hall()).snapshot()["at"] is None


def test_restate_repeats_what_a_unit_should_show() -> None:
    b = Bench(make_hall(mode=MicMode.REQUEST))
    b.send(GrantFloor, 1)
    b.send(MicRequest, 2)
    b.send(MicRequest, 3)
    assert b.floor.restate(1) == [
        MicSwitch(seat=1, on=True),
        RingShow(seat=1, state=RingState.LIVE),
    ]
    assert b.floor.restate(3) == [
        MicSwitch(seat=3, on=False),
        RingShow(seat=3, state=RingState.QUEUED, position=2),
    ]
    with pytest.raises(CommandRejected):
        b.floor.restate(UNKNOWN)


def test_a_full_hall_moves_only_the_seats_behind() -> None:
    """4,096 seats, 250 waiting: a withdrawal tells exactly the seats that moved."""
    b = Bench(make_hall(delegates=4096, mode=MicMode.REQUEST, max_requests=250))
    for seat in range(1, 4097, 16):  # 256 presses, the last six beyond the list
        b.send(MicRequest, seat)
    assert len(waiting(b.floor)) == 250
    effects = b.send(MicRequest, 16 * 100 + 1)  # withdraws the 101st
    rings = [e for e in effects if isinstance(e, RingShow)]
    assert len(rings) == 1 + 149
    assert rings[1] == RingShow(seat=16 * 101 + 1, state=RingState.QUEUED, position=101)
