"""The wall's MQTT publisher survives a state it cannot build and a message a sink refuses.

The sink encodes every message with the real codec (`protocols.mqtt.Topics.publication`), as
the MQTT driver does before queueing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from chamber.controller.config import load_config
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    CreateVote,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    VoteKeyPressed,
)
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.view import Audience, HallInfo, project
from chamber.controller.wallpub import WallPublisher, WallSink, publish_wall_state
from chamber.protocols.mqtt import Message, MessageKind, MqttUsageError, Topics
from tests.wall.hall import running_hall

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"
CONFIG = load_config(EXAMPLE)


class CodecSink:
    """Encodes what it is given, as the MQTT driver does; may refuse one kind."""

    def __init__(self, refuse: MessageKind | None = None) -> None:
        self.topics = Topics(CONFIG.hall_id)
        self.refuse = refuse
        self.published: list[tuple[MessageKind, bytes]] = []

    def publish_wall(self, message: Message) -> None:
        if message.kind is self.refuse:
            raise MqttUsageError(f"{message.kind}: refused by this sink")
        self.published.append((message.kind, self.topics.publication(message).payload))

    def clear_wall(self, kind: MessageKind) -> None:
        self.published.append((kind, b""))


def _state(core: MeetingCore) -> dict[str, Any]:
    """The core's wall view, as the stream sends it."""
    info: HallInfo = {
        "id": CONFIG.hall_id,
        "name": CONFIG.hall.body.name,
        "short_name": CONFIG.hall.body.short_name,
        "members": CONFIG.hall.body.members,
        "language": CONFIG.hall.language.value,
    }
    view = project(core.snapshot(), info, {"lines": [], "units": []})[Audience.WALL]
    loaded: dict[str, Any] = json.loads(json.dumps(view))
    return loaded


def _core() -> MeetingCore:
    core = MeetingCore(CONFIG.hall)
    core.handle(
        OpenSitting(1.0, "kh-12", "Kỳ họp thứ 12", (AgendaItemSpec("nd-03", "Nghị quyết"),))
    )
    for seat in range(1, 30):
        core.handle(PresenceChanged(1.0, seat, True))
    core.handle(CreateVote(2.0, "bq-07", "Nghị quyết về ngân sách", quorum_required=False))
    core.handle(OpenVote(2.0, "bq-07"))
    return core


def test_a_bad_state_is_skipped_and_the_next_one_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = CodecSink()
    assert isinstance(sink, WallSink)
    publisher = WallPublisher(CONFIG.hall, [sink], unix_offset=1_796_000_000.0)
    core = _core()
    publisher.update(_state(core), now=3.0)
    first = len(sink.published)
    assert MessageKind.WALL_VOTE in {kind for kind, _ in sink.published}

    poisoned = _state(core)
    poisoned["show"]["choices"] = [{"seat": 2, "key": 2.0}]
    with caplog.at_level(logging.ERROR, logger="chamber.wall"):
        publisher.update(poisoned, now=3.5)
        publisher.update({"vote": "not an object", "attendance": 7}, now=3.6)
    assert publisher.failures == 2
    assert len(sink.published) == first
    wall_errors = [r for r in caplog.records if getattr(r, "event", None) == "wall-error"]
    assert len(wall_errors) == 2
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in wall_errors)

    core.handle(VoteKeyPressed(4.0, 2, 1))
    publisher.update(_state(core), now=4.0)
    votes = [payload for kind, payload in sink.published[first:] if kind is MessageKind.WALL_VOTE]
    assert json.loads(votes[-1])["voted"] == 1


def test_a_refused_message_does_not_stop_the_other_topics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusing = CodecSink(refuse=MessageKind.WALL_VOTE)
    other = CodecSink()
    publisher = WallPublisher(CONFIG.hall, [refusing, other], unix_offset=1_796_000_000.0)
    with caplog.at_level(logging.ERROR, logger="chamber.wall"):
        publisher.update(_state(_core()), now=3.0)
    kinds = {kind for kind, _ in refusing.published}
    assert MessageKind.WALL_VOTE not in kinds
    assert {MessageKind.WALL_SITTING, MessageKind.WALL_ATTENDANCE, MessageKind.WALL_SEATS} <= kinds
    assert MessageKind.WALL_VOTE in {kind for kind, _ in other.published}
    assert publisher.failures == 1
    assert "wall topic wallVote could not be published" in caplog.text


class WatchedSink(CodecSink):
    """A codec sink that wakes a waiting test at each message."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def publish_wall(self, message: Message) -> None:
        super().publish_wall(message)
        self.changed.set()

    def last(self, kind: MessageKind) -> dict[str, Any] | None:
        for k, payload in reversed(self.published):
            if k is kind:
                found: dict[str, Any] | None = json.loads(payload) if payload else None
                return found
        return None


async def test_the_publisher_follows_the_wall_view_of_a_running_daemon(tmp_path: Path) -> None:
    """Sinks passed in at assembly; the publisher applies the wall view's patches and sends
    the vote the view shows, its tally, then its result."""
    sink = WatchedSink()
    async with running_hall(tmp_path / "hall.journal") as hall:
        runtime = hall.daemon.runtime
        task = asyncio.create_task(publish_wall_state(runtime, sinks=[sink], interval_s=0.0))

        async def until(kind: MessageKind, check: Any) -> dict[str, Any]:
            async with asyncio.timeout(10):
                while True:
                    message = sink.last(kind)
                    if message is not None and check(message):
                        return message
                    sink.changed.clear()
                    await sink.changed.wait()

        try:
            await hall.post(
                "/api/sitting/open",
                {"sitting_id": "k1", "title": "Kỳ họp", "agenda": [{"id": "1", "title": "Mục"}]},
            )
            hall.feed_presence(range(1, 31))
            made = await hall.post("/api/votes", {"title": "Nghị quyết"})
            vote_id = made["vote_id"]
            await hall.post(f"/api/votes/{vote_id}/open")
            hall.feed_presses({seat: 1 for seat in range(1, 11)})
            vote = await until(MessageKind.WALL_VOTE, lambda m: m["voted"] == 10)
            assert vote["id"] == vote_id
            await hall.post(f"/api/votes/{vote_id}/close")
            result = await until(MessageKind.WALL_RESULT, lambda m: m["vote_id"] == vote_id)
            assert result["totals"][0] == 10
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
