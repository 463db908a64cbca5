"""The torture harness's secrecy check on the display wall: what the wall view and its MQTT
twin carry of a running secret vote passes it, and the same with a running total, a worded
share or a seat's key put back in is caught. The views are the read model's own, built from a
real meeting core; the messages are the twin's, encoded as the broker would carry them."""

from __future__ import annotations

import copy
import json
from typing import Any

from chamber.controller.core.inputs import CloseVote
from chamber.controller.core.model import VoteMode
from chamber.controller.wall import wall_messages
from chamber.protocols.mqtt import MessageKind
from tests.torture import ledger
from tests.wall.test_wall_mqtt import HALL, OFFSET, PRESSES, TOPICS, _sitting, _vote, wall_view

SECRET = ledger.Secret("bq-07", dict(PRESSES), frozenset(), None, None)


def _published(view: dict[str, Any]) -> list[tuple[str, Any]]:
    """The twin's messages for `view`, as (topic, decoded JSON payload) off the wire."""
    out = []
    for message in wall_messages(view, HALL, now=210.0, unix_offset=OFFSET).values():
        if message is not None:
            publication = TOPICS.publication(message)
            out.append((publication.topic, json.loads(publication.payload)))
    return out


def _links(view: dict[str, Any]) -> list[str]:
    found = ledger.stream_timing("wall", [view], SECRET) + ledger.value_links("wall", view, SECRET)
    for topic, value in _published(view):
        found += ledger.wall_links("mqtt", topic, value, SECRET)
        found += ledger.value_links(f"mqtt {topic}", value, SECRET)
    return found


def test_a_running_secret_vote_on_the_wall_passes_the_check() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.SECRET, PRESSES)
    view = wall_view(core)
    # Who has voted is on the wall, beside the count, and nothing of how.
    assert sorted(view["show"]["voted_seats"]) == sorted(PRESSES)
    assert _links(view) == []
    # After the close the totals are public, and still no seat's key.
    core.handle(CloseVote(220.0, "bq-07"))
    closed = wall_view(core)
    assert closed["show"]["counts"] == [27, 2, 1]
    assert [f for f in _links(closed) if "keys" in f] == []


def test_a_total_a_share_or_a_key_on_the_wall_is_caught() -> None:
    core = _sitting()
    _vote(core, 200.0, VoteMode.SECRET, PRESSES)
    view = wall_view(core)

    totals = copy.deepcopy(view)
    totals["show"]["counts"] = [27, 2, 1]
    assert any("stands while open" in f for f in ledger.stream_timing("wall", [totals], SECRET))

    shares = copy.deepcopy(view)
    shares["show"]["text"]["vi"]["lines"] = ["27 đại biểu (54,00 % tổng số)"]
    assert any("stands while open" in f for f in ledger.stream_timing("wall", [shares], SECRET))

    topic = TOPICS.topic(MessageKind.WALL_VOTE, None)
    vote = dict(next(v for t, v in _published(view) if t == topic), totals=[27, 2, 1])
    assert ledger.wall_links("mqtt", topic, vote, SECRET) != []

    topic = TOPICS.topic(MessageKind.WALL_SEATS, None)
    seats = next(v for t, v in _published(view) if t == topic)
    keyed = {**seats, "seats": {**seats["seats"], "28": 2}}
    assert ledger.wall_links("mqtt", topic, keyed, SECRET) == [
        f"mqtt: {topic} shows 1 seats' keys of bq-07"
    ]
