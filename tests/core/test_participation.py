"""The participation record per delegate and sitting: attendance, votes, speeches."""

from __future__ import annotations

import json

import pytest

from chamber.controller.core.attendance import Period
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CloseSitting,
    CloseVote,
    CreateVote,
    GrantFloor,
    MicCancel,
    MicRequest,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    VoteKeyPressed,
)
from chamber.controller.core.model import Language, SpeakerList, VoteMode
from chamber.controller.core.sitting import MeetingCore
from tests.core.halls import make_hall, opened


def sitting_with_two_votes() -> MeetingCore:
    core = opened(make_hall(4, language=Language.VI), at=0.0)
    core.handle(CreateVote(at=10, vote_id="open", title="Ngân sách"))
    core.handle(OpenVote(at=11, vote_id="open"))
    core.handle(VoteKeyPressed(at=12, seat=1, key=1))
    core.handle(VoteKeyPressed(at=12, seat=2, key=2))
    core.handle(CloseVote(at=20, vote_id="open"))
    core.handle(CreateVote(at=30, vote_id="secret", title="Miễn nhiệm", mode=VoteMode.SECRET))
    core.handle(OpenVote(at=31, vote_id="secret"))
    core.handle(VoteKeyPressed(at=32, seat=1, key=2))
    core.handle(VoteKeyPressed(at=32, seat=3, key=1))
    core.handle(CloseVote(at=40, vote_id="secret"))
    return core


def test_votes_taken_part_in_with_the_choice_only_for_open_votes() -> None:
    records = sitting_with_two_votes().participation()
    d1 = records["d1"]
    assert [(v.vote_id, v.key, v.label) for v in d1.votes] == [
        ("open", 1, "Tán thành"),
        ("secret", None, None),
    ]
    assert [v.vote_id for v in records["d3"].votes] == ["secret"]
    assert records["d3"].votes_missed == ("open",)
    assert records["d4"].votes == ()
    assert records["d4"].votes_missed == ("open", "secret")


def test_no_record_of_a_secret_vote_carries_a_choice() -> None:
    records = sitting_with_two_votes().participation()
    for record in records.values():
        for vote in record.to_json()["votes"]:
            if vote["vote_id"] == "secret":
                assert vote["key"] is None
                assert vote["label"] is None
    # The record is JSON-ready, Vietnamese intact.
    text = json.dumps({k: r.to_json() for k, r in records.items()}, ensure_ascii=False)
    assert "Tán thành" in text
    assert "Miễn nhiệm" in text


def test_attendance_periods_and_time_present() -> None:
    core = MeetingCore(make_hall(3))
    core.handle(PresenceChanged(at=0, seat=1, present=True))
    core.handle(OpenSitting(at=100, sitting_id="s1", title="Kỳ họp"))
    core.handle(PresenceChanged(at=400, seat=1, present=False))
    core.handle(PresenceChanged(at=500, seat=1, present=True))
    core.handle(PresenceChanged(at=600, seat=2, present=True))
    core.handle(CloseSitting(at=1000))
    records = core.participation("s1")
    assert records["d1"].periods == (Period(1, 100, 400), Period(1, 500, 1000))
    assert records["d1"].present_s == 800
    assert records["d2"].present_s == 400
    assert records["d3"].periods == ()
    assert records["d3"].present_s == 0


def test_speeches_and_questions_with_their_durations() -> None:
    core = opened(make_hall(4))
    core.handle(MicRequest(at=10, seat=2))
    core.handle(GrantFloor(at=20, seat=2))
    core.handle(MicCancel(at=200, seat=2))
    core.handle(MicRequest(at=300, seat=2, list=SpeakerList.QUESTION))
    core.handle(GrantFloor(at=310, seat=2))
    core.handle(MicCancel(at=370, seat=2))
    record = core.participation()["d2"]
    assert [(s.list, s.duration_s) for s in record.speeches] == [
        (SpeakerList.SPEAK, 180),
        (SpeakerList.QUESTION, 60),
    ]
    assert record.speaking_s() == 240
    assert record.speaking_s(SpeakerList.QUESTION) == 60
    assert record.to_json()["speaking_s"] == {
        "total": 240,
        "speak": 180,
        "question": 60,
        "reply": 0,
    }


def test_each_sitting_has_its_own_record() -> None:
    core = opened(make_hall(3))
    core.handle(MicRequest(at=10, seat=2))
    core.handle(GrantFloor(at=10, seat=2))
    core.handle(MicCancel(at=70, seat=2))
    core.handle(CloseSitting(at=100))
    core.handle(OpenSitting(at=200, sitting_id="s2", title="Kỳ họp tiếp"))
    core.handle(MicRequest(at=210, seat=3))
    core.handle(GrantFloor(at=210, seat=3))
    core.handle(MicCancel(at=240, seat=3))
    assert [s.duration_s for s in core.participation("s1")["d2"].speeches] == [60]
    assert core.participation("s1")["d3"].speeches == ()
    assert core.participation()["d2"].speeches == ()
    assert [s.duration_s for s in core.participation("s2")["d3"].speeches] == [30]
    assert core.participation()["d3"].sitting_id == "s2"


def test_no_record_before_any_sitting() -> None:
    with pytest.raises(CommandRejected) as info:
        MeetingCore(make_hall(3)).participation()
    assert info.value.kind == "not-found"
