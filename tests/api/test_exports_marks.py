"""Exports of a sitting where the system failed: an annulled vote, the vote run again and taken
by show of hands, a dismissal, and a practice vote, replayed from the journal."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from datetime import datetime

from chamber.controller.core.inputs import VoteKeyPressed
from chamber.controller.core.model import Language
from chamber.controller.exports import (
    CSV_BOM,
    Format,
    What,
    date_fields,
    percent,
    render,
    replay_journal,
)

from .conftest import Hall


async def play(hall: Hall) -> None:
    await hall.open_sitting(range(1, 41))
    async with hall.client() as chair:
        for body in (
            {"vote_id": "thu", "title": "Biểu quyết thử", "practice": True},
            {"vote_id": "v1", "title": "Nghị quyết về ngân sách tỉnh"},
            {"vote_id": "bn", "title": "Bãi nhiệm đại biểu Nguyễn Văn A", "kind": "dismissal"},
        ):
            assert (await chair.post("/api/votes", json=body)).is_success
        assert (await chair.post("/api/votes/thu/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=3, key=1))
        assert (await chair.post("/api/votes/thu/close")).is_success

        assert (await chair.post("/api/votes/v1/open")).is_success
        await hall.feed(*(VoteKeyPressed(at=hall.clock.now(), seat=s, key=1) for s in range(1, 9)))
        r = await chair.post("/api/votes/v1/annul", json={"reason": "Mất điện giữa chừng"})
        assert r.is_success, r.text
        rerun = await chair.post("/api/votes/v1/rerun", json={"vote_id": "v1b"})
        assert rerun.is_success, rerun.text
        r = await chair.post(
            "/api/votes/v1b/manual-result",
            json={"method": "show-of-hands", "totals": [34, 4, 2]},
        )
        assert r.is_success, r.text

        assert (await chair.post("/api/votes/bn/open")).is_success
        now = hall.clock.now()
        await hall.feed(*(VoteKeyPressed(at=now, seat=s, key=1) for s in range(1, 34)))
        await hall.feed(*(VoteKeyPressed(at=now, seat=s, key=2) for s in range(34, 41)))
        hall.clock.advance(5)
        assert (await chair.post("/api/votes/bn/close")).is_success
        hall.clock.advance(60)
        assert (await chair.post("/api/sitting/close")).is_success


async def test_results_mark_annulled_rerun_and_manual_and_leave_practice_out(hall: Hall) -> None:
    await play(hall)
    view = replay_journal(hall.daemon.journal.path, hall.daemon.runtime.config)
    assert list(view.votes) == ["v1", "v1b", "bn"]
    data = {r["vote_id"]: r for r in json.loads(render(view, What.RESULTS, Format.JSON))["results"]}
    assert data["v1"]["annulled"] is True
    assert data["v1"]["annulled_reason"] == "Mất điện giữa chừng"
    assert [t["count"] for t in data["v1"]["totals"]] == [8, 0, 0]
    assert (data["v1b"]["rerun_of"], data["v1b"]["manual"]) == ("v1", "show-of-hands")
    assert data["v1b"]["adopted"] is True
    assert data["v1b"]["annulled"] is False
    # 33 of 50 is short of two thirds (34): the dismissal fails, by secret ballot.
    assert (data["bn"]["kind"], data["bn"]["mode"], data["bn"]["rule"]) == (
        "dismissal",
        "secret",
        "vn-two-thirds",
    )
    assert (data["bn"]["required"], data["bn"]["adopted"]) == (34, False)
    text = render(view, What.RESULTS, Format.CSV)
    assert text.startswith(CSV_BOM)
    table = list(csv.DictReader(io.StringIO(text[1:], newline="")))
    assert {r["Mã biểu quyết"] for r in table} == {"v1", "v1b", "bn"}
    v1 = [r for r in table if r["Mã biểu quyết"] == "v1"]
    assert {r["Lý do hủy kết quả"] for r in v1} == {"Mất điện giữa chừng"}
    assert {r["Đã hủy kết quả"] for r in v1} == {"Có"}
    manual = {r["Kết quả kiểm đếm thủ công"] for r in table if r["Mã biểu quyết"] == "v1b"}
    assert manual == {"Kết quả biểu quyết bằng hình thức giơ tay, do chủ tọa nhập vào hệ thống"}

    # Nobody's participation counts the practice vote, the annulled one or the show of hands.
    people = json.loads(render(view, What.PARTICIPATION, Format.JSON))["delegates"]
    d1 = next(p for p in people if p["delegate_id"] == "d0001")
    assert [v["vote_id"] for v in d1["votes"]] == ["bn"]
    assert all(p["votes_missed"] in ([], ["bn"]) for p in people)


async def test_the_minutes_say_what_happened_in_words(hall: Hall) -> None:
    await play(hall)
    # The hall file's `[hall] place`, for the place and date line.
    config = dataclasses.replace(hall.daemon.runtime.config, place="Ninh Bình")
    view = replay_journal(hall.daemon.journal.path, config)
    vi = render(view, What.MINUTES, Format.HTML)
    assert "Biểu quyết thử" not in vi
    assert "Kết quả đã bị hủy. Lý do: Mất điện giữa chừng" in vi
    # Votes are named by their number in the minutes, never by an internal id.
    assert "Biểu quyết 2: Nghị quyết về ngân sách tỉnh" in vi
    assert "Biểu quyết lại, thay cho biểu quyết 1 đã bị hủy kết quả" in vi
    assert "Kết quả biểu quyết bằng hình thức giơ tay, do chủ tọa nhập vào hệ thống" in vi
    assert "Bãi nhiệm đại biểu" in vi
    # Counts and shares of the TOTAL number of delegates, with a decimal comma.
    assert "34/50" in vi
    assert "68,0 %" in vi
    assert "66,0 %" in vi
    # The form of Decree 30/2020/NĐ-CP: the issuing body top left, the national name and the
    # motto top right, the place and date in italics, the signers at the end.
    assert "HỘI ĐỒNG NHÂN DÂN TỈNH NINH BÌNH KHÓA XV" in vi
    assert '<div class="nation">CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</div>' in vi
    assert '<div class="motto">Độc lập - Tự do - Hạnh phúc</div>' in vi
    assert re.search(
        r'<div class="place-date">Ninh Bình, ngày \d\d tháng \d{1,2} năm \d{4}</div>', vi
    )
    assert "<h1>BIÊN BẢN</h1>" in vi
    chair = next(
        d.name for d in hall.daemon.runtime.config.hall.delegates if d.role.value == "chair"
    )
    assert f"Chủ tọa: {chair}" in vi
    assert '<div class="signer">CHỦ TỌA</div>' in vi
    assert '<div class="signer">THƯ KÝ</div>' in vi
    assert re.search(r"Khai mạc: \d\d giờ \d\d, ngày \d\d tháng", vi)
    assert re.search(r"Bế mạc: \d\d giờ \d\d, ngày \d\d tháng", vi)
    # The verdict once, with its rule: 33 of 50 is short of two thirds (34).
    assert vi.count("Không thông qua") == 1
    assert "cần ít nhất hai phần ba tổng số 50 đại biểu (ít nhất 34)." in vi
    en = render(view, What.MINUTES, Format.HTML, language=Language.EN)
    assert "SOCIALIST REPUBLIC OF VIET NAM" in en
    assert "Independence - Freedom - Happiness" in en
    assert "Result annulled. Reason: Mất điện giữa chừng" in en
    assert "Result taken by show of hands, entered by the chair" in en
    assert "68.0%" in en
    assert "Vote 2: Nghị quyết về ngân sách tỉnh" in en
    assert "Not adopted" in en


def test_percentages_round_half_up_exactly() -> None:
    assert percent(34, 50, Language.VI) == "68,0"
    assert percent(1, 3, Language.EN) == "33.3"
    assert percent(2, 3, Language.VI) == "66,7"
    assert percent(1, 8, Language.EN) == "12.5"
    assert percent(1, 16, Language.EN) == "6.3"
    assert percent(0, 0, Language.VI) == "0,0"


def test_dates_are_written_as_decree_30_says() -> None:
    """A day below 10 and the months 1 and 2 take a leading 0; other months do not."""
    assert {k: date_fields(datetime(2026, 12, 2, 8, 5))[k] for k in ("day", "month")} == {
        "day": "02",
        "month": "12",
    }
    assert date_fields(datetime(2026, 1, 15))["month"] == "01"
    assert date_fields(datetime(2026, 2, 9))["month"] == "02"
    assert date_fields(datetime(2026, 3, 9))["month"] == "3"
    assert date_fields(datetime(2026, 3, 9, 8, 5))["hour"] == "08"


async def test_a_signed_result_says_it_was_annulled(hall: Hall) -> None:
    await play(hall)
    async with hall.client() as chair:
        annulled = await chair.get("/api/votes/v1/signed-result")
        rerun = await chair.get("/api/votes/v1b/signed-result")
    assert annulled.status_code == 200, annulled.text
    vote = annulled.json()["result"]["vote"]
    assert (vote["kind"], vote["annulled"]) == ("resolution", "Mất điện giữa chừng")
    again = rerun.json()["result"]["vote"]
    assert (again["rerun_of"], again["manual"], again["annulled"]) == ("v1", "show-of-hands", None)
