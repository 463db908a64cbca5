"""A scripted sitting of the 50-member Vietnamese council, run through the meeting core alone.

No hardware, no daemon: the script feeds timestamped inputs to `MeetingCore` on a fake clock
and prints what happens, in the hall's language. It shows attendance and quorum, a vote under
the council's rule (more than half of ALL delegates) with its explanation, a secret ballot, and
a speakers' list with chair priority. `chamber demo --script` runs it.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import Chime, Effect, MicSwitch, Notification
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    ChairPriority,
    CloseVote,
    CreateVote,
    GrantNext,
    Input,
    MicRequest,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    PublishVote,
    Tick,
    VoteKeyPressed,
)
from chamber.controller.core.model import SpeakerList, VoteMode
from chamber.controller.core.sitting import MeetingCore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vn-council.toml"


class ScriptedSitting:
    def __init__(self, out: TextIO, config_path: Path = EXAMPLE, seed: int = 12) -> None:
        self.cfg = load_config(config_path)
        self.core = MeetingCore(self.cfg.hall)
        self.clock = FakeClock(0.0)
        self.out = out
        self.rng = random.Random(seed)
        self.names = {
            s.number: self.cfg.hall.delegate(s.delegate).name
            for s in self.cfg.hall.seats
            if s.delegate is not None
        }

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def feed(self, make: Callable[[float], Input], advance: float = 0.0) -> list[Effect]:
        self.clock.advance(advance)
        return self.core.handle(make(self.clock.now()))

    def run(self) -> dict[str, Any]:
        hall = self.cfg.hall
        self.say(f"══ {hall.body.name} ══")
        self.say(f"   {hall.body.members} đại biểu; quy tắc biểu quyết: quá nửa tổng số đại biểu")
        self.say()
        self.feed(
            lambda at: OpenSitting(
                at,
                "ky-hop-12",
                "Kỳ họp thứ mười hai",
                (
                    AgendaItemSpec("1", "Nghị quyết về dự toán ngân sách địa phương năm 2027"),
                    AgendaItemSpec("2", "Bầu Ủy viên Ủy ban nhân dân tỉnh"),
                ),
            )
        )
        self.say("▶ Khai mạc Kỳ họp thứ mười hai — mục 1: Nghị quyết về dự toán ngân sách")
        self.feed(lambda at: OpenAttendance(at), 1.0)
        self.say("▶ Điểm danh: đại biểu bấm nút có mặt")
        arrivals = list(range(1, 51))
        self.rng.shuffle(arrivals)
        for n, seat in enumerate(arrivals[:41], start=1):
            for effect in self.feed(partial(PresenceChanged, seat=seat, present=True), 0.7):
                if isinstance(effect, Notification) and effect.topic == "quorum.changed":
                    q = effect.data
                    state = "ĐỦ số đại biểu" if q["quorate"] else "chưa đủ số đại biểu"
                    self.say(
                        f"   có mặt {q['present']}, cần ít nhất {q['required']} — {state} "
                        f"để tiến hành kỳ họp (sau {n} lượt bấm)"
                    )
        quorum = self.core.snapshot()["quorum"]
        self.say(f"   có mặt: {quorum['present']} / {hall.body.members} đại biểu")
        self.say()

        self.say("▶ Biểu quyết công khai: thông qua Nghị quyết về dự toán ngân sách (60 giây)")
        self.feed(lambda at: CreateVote(at, "nq-ngan-sach", "Thông qua Nghị quyết dự toán"), 1.0)
        self.feed(lambda at: OpenVote(at, "nq-ngan-sach"), 1.0)
        present = sorted(arrivals[:41])
        choices = {seat: 1 if i < 27 else (2 if i < 33 else 3) for i, seat in enumerate(present)}
        # Delegates 39..41 do not press at all: "không biểu quyết" by not voting.
        for seat in present[:38]:
            self.feed(partial(VoteKeyPressed, seat=seat, key=choices[seat]), 0.5)
        late = present[-1]
        self.clock.advance(60.0)
        for effect in self.core.handle(Tick(self.clock.now())):
            self._print_result(effect)
        rejected = self.feed(lambda at: VoteKeyPressed(at, late, 1), 0.1)
        for effect in rejected:
            if isinstance(effect, Notification) and effect.topic == "press.rejected":
                self.say(f"   ✗ ghế {late} bấm sau khi đã đóng biểu quyết: không được tính")
        self.feed(lambda at: PublishVote(at, "nq-ngan-sach"), 1.0)
        self.say()

        self.say("▶ Bỏ phiếu kín: một mục có điều kiện hai phần ba (bấm chính xác, không lộ ghế)")
        self.feed(
            lambda at: CreateVote(
                at, "kin-1", "Biểu quyết kín", mode=VoteMode.SECRET, rule="vn-two-thirds"
            ),
            1.0,
        )
        self.feed(lambda at: OpenVote(at, "kin-1"), 1.0)
        for i, seat in enumerate(present):
            self.feed(partial(VoteKeyPressed, seat=seat, key=1 if i < 35 else 2), 0.3)
        for effect in self.feed(lambda at: CloseVote(at, "kin-1"), 1.0):
            self._print_result(effect)
        self.say()

        self.say("▶ Đăng ký phát biểu (danh sách chờ) và quyền ưu tiên của chủ tọa")
        speakers = present[5:9]
        for seat in speakers:
            self.feed(partial(MicRequest, seat=seat, list=SpeakerList.SPEAK), 2.0)
            self.say(f"   ghế {seat:>2} {self.names[seat]} xin phát biểu")
        self.feed(lambda at: MicRequest(at, present[10], SpeakerList.QUESTION), 1.0)
        self.say(f"   ghế {present[10]:>2} {self.names[present[10]]} đăng ký chất vấn")
        for _ in range(2):
            for effect in self.feed(lambda at: GrantNext(at, SpeakerList.SPEAK), 5.0):
                if isinstance(effect, MicSwitch) and effect.on and effect.seat is not None:
                    self.say(f"   ♪ micro ghế {effect.seat} ({self.names[effect.seat]}) bật")
        chair = next(s.number for s in hall.seats if s.mic_class.value == "chair")
        for effect in self.feed(lambda at: ChairPriority(at, chair, True), 30.0):
            if isinstance(effect, Chime):
                self.say("   ♫ chủ tọa bấm ưu tiên: chuông, micro đại biểu tạm tắt")
        self.feed(lambda at: ChairPriority(at, chair, False), 5.0)
        floor = self.core.snapshot()["floor"]
        self.say(f"   đang chờ: {floor['caps']['waiting']} đại biểu")
        self.say()
        return self.core.snapshot()

    def _print_result(self, effect: Effect) -> None:
        if not (isinstance(effect, Notification) and effect.topic == "vote.closed"):
            return
        result = effect.data.get("result") or {}
        totals = result.get("totals", [])
        parts = ", ".join(f"{t['label']}: {t['count']}" for t in totals if isinstance(t, dict))
        self.say(f"   kết quả: {parts}; không bấm: {result.get('did_not_vote', '?')}")
        outcome = result.get("outcome", {})
        mark = "✔ THÔNG QUA" if outcome.get("adopted") else "✘ KHÔNG THÔNG QUA"
        self.say(f"   {mark} — {outcome.get('explanation', '')}")


def run_script(out: TextIO) -> dict[str, Any]:
    return ScriptedSitting(out).run()


if __name__ == "__main__":
    run_script(sys.stdout)
