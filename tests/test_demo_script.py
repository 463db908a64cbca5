"""The scripted demo sitting runs through the core and tells the hall what happened."""

from __future__ import annotations

import io

from chamber.controller.demo_script import run_script


def test_scripted_sitting_shows_attendance_vote_and_floor() -> None:
    out = io.StringIO()
    state = run_script(out)
    text = out.getvalue()
    assert "Hội đồng nhân dân tỉnh Ninh Bình khóa XV" in text
    assert "có mặt 26, cần ít nhất 26 — ĐỦ số đại biểu" in text
    assert (
        "✔ THÔNG QUA — Có 27/50 đại biểu tán thành; cần quá nửa tổng số 50 đại biểu "
        "(ít nhất 26): thông qua." in text
    )
    assert "bấm sau khi đã đóng biểu quyết" in text
    assert "chủ tọa bấm ưu tiên" in text
    results = {r["vote_id"]: r for r in state["results"]}
    assert results["nq-ngan-sach"]["totals"][0]["count"] == 27
    assert results["nq-ngan-sach"]["did_not_vote"] == 3
    # The secret ballot's result carries totals and participants, never a seat's choice.
    assert results["kin-1"]["choices"] == []
    assert state["floor"]["caps"]["waiting"] == 3
