"""What a conformance run found: one result per contract section, printed or as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # not checked: the unit lacks the feature, or the maker did not do a step


class ConformanceError(Exception):
    """The kit cannot run at all (the port cannot be opened, the unit never answers)."""


@dataclass(frozen=True)
class Section:
    """A contract section as the contract names it."""

    number: str
    title: str


@dataclass
class Result:
    section: Section
    status: Status = Status.PASS
    checks: int = 0
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, ok: bool, fault: str) -> bool:
        """One check: `fault` says what the unit did wrong when `ok` is false."""
        self.checks += 1
        if not ok:
            self.faults.append(fault)
            self.status = Status.FAIL
        return ok

    def skip(self, why: str) -> None:
        if self.status is Status.PASS and not self.faults:
            self.status = Status.SKIP
        self.notes.append(why)

    def line(self) -> str:
        head = f"{self.status.value.upper():4}  §{self.section.number} {self.section.title}"
        detail = self.faults or self.notes
        return f"{head}: {'; '.join(detail)}" if detail else head

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section.number,
            "title": self.section.title,
            "status": self.status.value,
            "checks": self.checks,
            "faults": list(self.faults),
            "notes": list(self.notes),
        }


@dataclass
class Report:
    contract: str
    unit: str
    settings: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def section(self, section: Section) -> Result:
        for result in self.results:
            if result.section == section:
                return result
        result = Result(section)
        self.results.append(result)
        return result

    @property
    def passed(self) -> bool:
        return all(r.status is not Status.FAIL for r in self.results)

    def failed(self) -> list[str]:
        """The numbers of the sections that failed."""
        return [r.section.number for r in self.results if r.status is Status.FAIL]

    def lines(self) -> Iterable[str]:
        yield f"{self.contract} conformance of {self.unit}"
        for result in self.results:
            yield result.line()
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failed())} section(s))"
        yield verdict

    def as_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "unit": self.unit,
            "settings": self.settings,
            "passed": self.passed,
            "sections": [r.as_json() for r in self.results],
            "figures": self.figures,
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False, indent=2)
