"""A sitting prepared in advance, in the core: the details its opening carries (title in
English, date, place, chair, secretary) and the chair's "next prepared vote"."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    CloseSitting,
    CloseVote,
    CreateVote,
    OpenSitting,
    OpenVote,
    SetCurrentItem,
    from_record,
    to_record,
)
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import VoteState
from tests.core.halls import AGENDA, feed, make_hall, opened, seated

OPENING = OpenSitting(
    at=1.0,
    sitting_id="ky-hop-9",
    title="Kỳ họp thứ Chín",
    agenda=(
        AgendaItemSpec("1", "Nghị quyết về ngân sách", "Resolution on the budget"),
        AgendaItemSpec("2", "Miễn nhiệm đại biểu"),
    ),
    title_en="Ninth sitting",
    date="2026-12-02",
    place="Hội trường tỉnh",
    chair="Đại biểu 1",
    chair_id="d1",
    secretary="Nguyễn Thị Hương",
)


def test_the_opening_s_details_are_in_the_snapshot_and_the_history() -> None:
    core = MeetingCore(make_hall(5))
    core.handle(OPENING)
    sitting = core.snapshot()["sitting"]
    assert sitting["title_en"] == "Ninth sitting"
    assert sitting["date"] == "2026-12-02"
    assert sitting["place"] == "Hội trường tỉnh"
    assert sitting["chair"] == {"name": "Đại biểu 1", "delegate": "d1"}
    assert sitting["secretary"] == {"name": "Nguyễn Thị Hương", "delegate": None}
    assert [a["title_en"] for a in sitting["agenda"]] == ["Resolution on the budget", ""]
    core.handle(CloseSitting(at=2.0))
    past = core.snapshot()["sittings"][-1]
    assert past["chair"] == {"name": "Đại biểu 1", "delegate": "d1"}
    assert past["date"] == "2026-12-02"
    assert core.history[-1].opening == OPENING


def test_a_sitting_opened_by_hand_names_nobody() -> None:
    core = opened(make_hall(5))
    sitting = core.snapshot()["sitting"]
    assert sitting["chair"] is None
    assert sitting["secretary"] is None
    assert sitting["title_en"] == sitting["date"] == sitting["place"] == ""


def test_the_opening_round_trips_and_an_earlier_record_still_reads() -> None:
    assert from_record(to_record(OPENING)) == OPENING
    earlier = {
        "kind": "open-sitting",
        "at": 1.0,
        "sitting_id": "s",
        "title": "t",
        "agenda": [{"id": "1", "title": "a"}],
    }
    inp = from_record(earlier)
    assert isinstance(inp, OpenSitting)
    assert inp.chair == ""
    assert inp.agenda[0].title_en == ""


def prepared(core: MeetingCore, votes: list[tuple[str, str | None]], at: float = 2.0) -> None:
    """(vote id, agenda item) each, prepared in that order."""
    feed(
        core,
        (CreateVote(at, vote_id, f"Biểu quyết {vote_id}", item_id=item) for vote_id, item in votes),
    )


def test_next_goes_in_agenda_order_and_moves_the_item() -> None:
    core = opened(make_hall(5))
    # Prepared out of order: item 2's before item 1's.
    prepared(core, [("b1", "2"), ("a1", "1"), ("a2", "1"), ("c1", "3")])
    assert core.snapshot()["sitting"]["next_vote"] == "a1"
    opened_order = []
    at = 10.0
    while core.next_prepared_vote() is not None:
        inputs = core.next_vote_inputs(at)
        last = inputs[-1]
        assert isinstance(last, OpenVote)
        vote_id = last.vote_id
        feed(core, inputs)
        assert core.active_vote is not None
        assert core.active_vote.vote_id == vote_id
        assert core.current_item == core.votes[vote_id].definition.item_id
        core.handle(CloseVote(at + 1, vote_id))
        opened_order.append(vote_id)
        at += 10
    assert opened_order == ["a1", "a2", "b1", "c1"]
    assert core.snapshot()["sitting"]["next_vote"] is None
    with pytest.raises(CommandRejected) as refused:
        core.next_vote_inputs(at)
    assert refused.value.code == "vote.none_prepared"


def test_next_starts_from_the_current_item_and_goes_round() -> None:
    core = opened(make_hall(5))
    prepared(core, [("a1", "1"), ("b1", "2"), ("c1", "3")])
    core.handle(SetCurrentItem(3.0, "3"))
    assert core.next_prepared_vote() is not None
    assert [type(i) for i in core.next_vote_inputs(4.0)] == [OpenVote]
    feed(core, core.next_vote_inputs(4.0))
    core.handle(CloseVote(5.0, "c1"))
    # After the last item, back to the first.
    inputs = core.next_vote_inputs(6.0)
    assert inputs[0] == SetCurrentItem(6.0, "1")
    assert inputs[1] == OpenVote(6.0, "a1")


def test_next_is_refused_while_a_vote_holds_the_keypads_and_changes_nothing() -> None:
    core = opened(make_hall(5))
    prepared(core, [("a1", "1"), ("b1", "2")])
    core.handle(OpenVote(3.0, "a1"))
    with pytest.raises(CommandRejected) as refused:
        core.next_vote_inputs(4.0)
    assert refused.value.code == "vote.active"
    assert refused.value.params["vote"] == "a1"
    assert core.current_item == "1"


def test_next_without_quorum_is_refused_before_the_item_moves() -> None:
    core = MeetingCore(make_hall(10))
    seated(core, [1, 2])  # 2 of 10: no quorum
    core.handle(OpenSitting(at=0.0, sitting_id="s1", title="Kỳ họp", agenda=AGENDA))
    prepared(core, [("b1", "2")])
    with pytest.raises(CommandRejected) as refused:
        core.next_vote_inputs(4.0)
    assert refused.value.code == "vote.no_quorum"
    assert core.current_item == "1"


def test_ad_hoc_votes_of_no_item_come_last() -> None:
    core = MeetingCore(make_hall(5))
    seated(core, range(1, 6))
    core.handle(OpenSitting(at=0.0, sitting_id="s1", title="Kỳ họp"))  # no agenda
    prepared(core, [("x", None), ("y", None)])
    assert core.next_prepared_vote() is core.votes["x"]
    assert core.next_vote_inputs(3.0) == [OpenVote(3.0, "x")]


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=8),
    start=st.sampled_from(["1", "2", "3"]),
)
def test_next_opens_every_prepared_vote_once_in_agenda_order_from_the_current_item(
    items: list[str], start: str
) -> None:
    core = opened(make_hall(5))
    votes: list[tuple[str, str | None]] = [(f"v{n}", item) for n, item in enumerate(items)]
    prepared(core, votes)
    core.handle(SetCurrentItem(3.0, start))
    order = ["1", "2", "3"]
    rotated = order[order.index(start) :] + order[: order.index(start)]
    # Each item's votes in the order they were made; the items from the current one round.
    expected = [v for item in rotated for v, i in votes if i == item]
    seen = []
    at = 10.0
    for _ in votes:
        inputs = core.next_vote_inputs(at)
        feed(core, inputs)
        active = core.active_vote
        assert active is not None
        assert core.current_item == active.definition.item_id
        seen.append(active.vote_id)
        core.handle(CloseVote(at + 1, active.vote_id))
        at += 10
    assert seen == expected
    assert all(v.state is VoteState.CLOSED for v in core.votes.values())
    assert core.next_prepared_vote() is None
