"""The maker's hands: the kit asks for a step in words and watches the unit for its effect."""

from __future__ import annotations

import sys
from typing import TextIO

from chamber.drivers.conformance.keypad import Step

TEXTS: dict[str, dict[Step, str]] = {
    "en": {
        Step.PRESS: "press voting key {key} {times} time(s), within {timeout:.0f} s",
        Step.EVENTS: (
            "make the unit record {times} events (a test jig or the firmware's test mode), "
            "within {timeout:.0f} s"
        ),
        Step.POWER_CYCLE: "switch the unit off and on again, within {timeout:.0f} s",
        Step.HOLD: "hold voting key {key} down for more than 5 s and keep holding it",
        Step.RELEASE: "release voting key {key}",
    },
    "vi": {
        Step.PRESS: "bấm phím biểu quyết {key} {times} lần, trong vòng {timeout:.0f} giây",
        Step.EVENTS: (
            "cho thiết bị ghi {times} sự kiện (đồ gá thử hoặc chế độ thử của phần mềm), "
            "trong vòng {timeout:.0f} giây"
        ),
        Step.POWER_CYCLE: "tắt thiết bị rồi bật lại, trong vòng {timeout:.0f} giây",
        Step.HOLD: "giữ phím biểu quyết {key} hơn 5 giây và tiếp tục giữ",
        Step.RELEASE: "thả phím biểu quyết {key}",
    },
}


class PromptBench:
    """Asks the maker on the terminal; the kit's timeout ends a step not done."""

    def __init__(self, timeout_s: float, language: str = "en", out: TextIO | None = None) -> None:
        self.timeout_s = timeout_s
        self.language = language
        self.out = out or sys.stderr

    async def do(self, step: Step, *, key: int = 1, times: int = 1) -> None:
        text = TEXTS[self.language][step].format(key=key, times=times, timeout=self.timeout_s)
        print(f">>> {text}", file=self.out, flush=True)
