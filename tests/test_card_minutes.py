"""The minutes name a delegate seated by their card, and whose seat it was until then."""

from __future__ import annotations

from chamber.controller.config import parse_config
from chamber.controller.core.inputs import OpenSitting, PresenceChanged
from chamber.controller.core.model import Language
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.exports import JournalView, minutes_html

DOC = {
    "hall": {"id": "h1"},
    "body": {"name": "Hội đồng", "members": 2},
    "delegates": [
        {"id": "a", "name": "Nguyễn Văn An", "cards": ["04A1B2C3D4E5F6"]},
        {"id": "b", "name": "Lê Thị Hà", "cards": ["DEADBEEF"]},
    ],
    "seats": [
        {"number": 1, "row": 1, "col": 1, "delegate": "a", "ip": True},
        {"number": 2, "row": 1, "col": 2, "delegate": "b", "ip": True},
        {"number": 3, "row": 1, "col": 3, "ip": True},
    ],
}


def test_the_minutes_list_moves_made_by_a_card() -> None:
    cfg = parse_config(DOC)
    core = MeetingCore(cfg.hall)
    core.handle(OpenSitting(at=0, sitting_id="s1", title="Kỳ họp"))
    # The driver gives CARD_ID in hex without its leading zero.
    core.handle(PresenceChanged(at=1, seat=3, present=True, card="4a1b2c3d4e5f6"))
    core.handle(PresenceChanged(at=2, seat=3, present=False))
    core.handle(PresenceChanged(at=3, seat=2, present=True, card="04A1B2C3D4E5F6"))
    view = JournalView(cfg, core, "j", 0, "", sittings=[("s1", "Kỳ họp")])
    vi = minutes_html(view, Language.VI, "s1")
    assert "Nguyễn Văn An: ngồi ghế số 3 bằng thẻ của mình." in vi
    assert "Nguyễn Văn An: ngồi ghế số 2 (trước đó là ghế của Lê Thị Hà) bằng thẻ của mình." in vi
    en = minutes_html(view, Language.EN, "s1")
    assert "Nguyễn Văn An: took seat 2 (until then Lê Thị Hà&#x27;s) with their own card." in en
