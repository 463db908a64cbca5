"""A short sitting played through the daemon, shared by the export, signing and secret tests."""

from __future__ import annotations

from chamber.controller.core.inputs import VoteKeyPressed

from .conftest import Hall

# Seat -> key in the open vote v1: 1 tán thành, 2 không tán thành, 3 không biểu quyết.
OPEN_CHOICES = {seat: 1 for seat in range(1, 27)} | {27: 2, 28: 2, 29: 3}
# The secret vote v2: 14 yes, 10 no, 4 abstain over 28 seats.
SECRET_CHOICES = (
    {seat: 1 for seat in range(1, 15)}
    | {seat: 2 for seat in range(15, 25)}
    | {seat: 3 for seat in range(25, 29)}
)


async def play_sitting(hall: Hall, *, close_sitting: bool = True) -> None:
    """Sitting k12: 30 present, an open vote v1 (adopted, 26 of 50) and a secret vote v2."""
    await hall.open_sitting()
    async with hall.client() as chair:
        for body in (
            {"vote_id": "v1", "title": "Nghị quyết về ngân sách tỉnh năm 2026"},
            {"vote_id": "v2", "title": "Bỏ phiếu kín: miễn nhiệm", "mode": "secret"},
        ):
            assert (await chair.post("/api/votes", json=body)).is_success
        for vote_id, choices in (("v1", OPEN_CHOICES), ("v2", SECRET_CHOICES)):
            assert (await chair.post(f"/api/votes/{vote_id}/open")).is_success
            now = hall.clock.now()
            # A change of mind first: only the last press counts.
            await hall.feed(VoteKeyPressed(at=now, seat=1, key=2))
            await hall.feed(*(VoteKeyPressed(at=now, seat=s, key=k) for s, k in choices.items()))
            hall.clock.advance(5)
            r = await chair.post(f"/api/votes/{vote_id}/close")
            assert r.is_success, r.text
            assert (await chair.post(f"/api/votes/{vote_id}/publish")).is_success
        if close_sitting:
            hall.clock.advance(60)
            assert (await chair.post("/api/sitting/close")).is_success
