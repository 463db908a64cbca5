"""A sitting prepared in advance: read a sitting file (TOML, or JSON), validate every key
against the hall, and turn it into the commands that open the sitting and prepare its votes.

The file holds the sitting's title (and its English title), date and place, who presides
and who keeps the minutes (a delegate id of the hall, or a name), the agenda items, and for
each item the votes prepared for it: title, kind, rule, answers (or choices), mode and
duration (0: untimed). Anything wrong is refused with ONE `SittingFileError` whose message
names the file and the key (or the line, for a syntax error), as the hall file's are::

    sitting.toml: items[1].votes[0].rule: 'two-thirds' is neither a preset nor a rule of
    this hall (known: roberts-majority, two-thirds-present, vn-council, vn-two-thirds)

Text is taken as Unicode NFC (a decomposed "ệ" from a word processor is stored composed), one
line each. The limits are the core's (`controller.core.limits`). Beyond the keys, the file is
checked as the hall will take it: its commands are run through a fresh meeting core of the
hall (`SittingPlan.check`), so a vote the daemon would refuse is refused here, with its key,
and the warnings the daemon gives (a rule that is not the kind's) are known before the sitting.

Loading is `OpenSitting` with the agenda and the details, then one `CreateVote` per prepared
vote: inputs the journal already has, so a restart replays a loaded sitting as it replays
one typed by hand. This module reads files; the meeting core never imports it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from chamber.controller.config import HallConfig
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import refusal_text
from chamber.controller.core.inputs import AgendaItemSpec, CreateVote, Input, OpenSitting
from chamber.controller.core.limits import (
    MAX_AGENDA_ITEMS,
    MAX_CHOICES,
    MAX_ITEM_ID,
    MAX_ITEM_VOTES,
    MAX_NAME,
    MAX_PLACE,
    MAX_SITTING_ID,
    MAX_TITLE,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_ID,
    MAX_VOTE_WARNING_S,
    UNTIMED,
)
from chamber.controller.core.model import AnswerSet, Hall, Language, VoteKind, VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.drivers.topology import describe

# A sitting file is a few KiB; the API takes a request body of 256 KiB.
MAX_SITTING_FILE_BYTES = 200 * 1024

Format = Literal["toml", "json"]
_In = TypeVar("_In", bound=Input)


class SittingFileError(ValueError):
    """The sitting file cannot be used; the message says where and why."""


_ID = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?"
# A delegate id of the hall file (`DelegateConfig.id`): a chair or secretary written so.
_DELEGATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _line(value: str) -> str:
    """`value` in NFC, refused if it holds a line break or another control character."""
    text = unicodedata.normalize("NFC", value)
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != "\u200d":
            raise ValueError(f"holds a control character (U+{ord(ch):04X}); write one line")
    return text


def _title(value: str) -> str:
    text = _line(value)
    if not text.strip():
        raise ValueError("is blank")
    return text


def _optional_line(value: str) -> str:
    return _line(value).strip()


Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE), AfterValidator(_title)]
TitleEn = Annotated[str, Field(max_length=MAX_TITLE), AfterValidator(_optional_line)]
Name = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_optional_line)]
Place = Annotated[str, Field(max_length=MAX_PLACE), AfterValidator(_optional_line)]
# true or false as written: "yes" or 1 is no answer to a yes-or-no key.
Flag = Annotated[bool, Field(strict=True)]
Choice = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_title)]


class _Model(BaseModel):
    # TOML has inf and nan, which no number of a sitting may be; a key not listed is a typo.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VoteIn(_Model):
    """`[[items.votes]]`: a vote prepared for its item. A key left out takes the kind's (and
    then the hall's) default, as a vote prepared in the console does."""

    id: Annotated[str, Field(min_length=1, max_length=MAX_VOTE_ID, pattern=f"^{_ID}$")] | None = (
        None
    )
    title: Title
    kind: VoteKind = VoteKind.RESOLUTION
    rule: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    answers: AnswerSet | None = None
    choices: Annotated[list[Choice], Field(max_length=MAX_CHOICES)] = []
    mode: VoteMode | None = None
    # 0 (`UNTIMED`): no time limit, the chair closes the vote by hand.
    duration_s: Annotated[float, Field(ge=UNTIMED, le=MAX_VOTE_DURATION_S, strict=True)] | None = (
        None
    )
    warning_s: Annotated[float, Field(ge=0, le=MAX_VOTE_WARNING_S, strict=True)] | None = None
    change_until_close: Flag | None = None
    quorum_required: Flag | None = None
    # A practice vote (biểu quyết thử): on the hall and the wall, out of the record.
    practice: Flag = False


class ItemIn(_Model):
    """`[[items]]`: an agenda item and the votes prepared for it."""

    id: Annotated[str, Field(min_length=1, max_length=MAX_ITEM_ID, pattern=f"^{_ID}$")]
    title: Title
    title_en: TitleEn = ""
    votes: Annotated[list[VoteIn], Field(max_length=MAX_ITEM_VOTES)] = []


class SittingIn(_Model):
    """`[sitting]`: what the sitting is, when and where, and who presides and who keeps the
    minutes."""

    id: Annotated[str, Field(min_length=1, max_length=MAX_SITTING_ID, pattern=f"^{_ID}$")]
    title: Title
    title_en: TitleEn = ""
    # A TOML date (2026-12-02) or, in JSON, the text "2026-12-02".
    date: datetime.date | str | None = None
    # Left out: the hall file's place.
    place: Place | None = None
    # A delegate id of the hall ("d0001"), or a name ("Nguyễn Văn An").
    chair: Name = ""
    secretary: Name = ""

    @field_validator("date")
    @classmethod
    def _date(cls, v: datetime.date | str | None) -> datetime.date | None:
        if v is None:
            return None
        if isinstance(v, datetime.datetime):
            raise ValueError("a date without a time of day is needed, e.g. 2026-12-02")
        if isinstance(v, datetime.date):
            return v
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
            raise ValueError(f"not a date: {v[:40]!r} (write e.g. 2026-12-02)")
        try:
            return datetime.date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"not a date of the calendar: {v!r}") from None


class SittingFileModel(_Model):
    sitting: SittingIn
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_AGENDA_ITEMS)]


@dataclass(frozen=True)
class Person:
    """Who presides or keeps the minutes: a name, and the delegate id when a delegate."""

    name: str
    delegate_id: str = ""


@dataclass(frozen=True)
class PreparedVote:
    """A vote of the file, where it is (`key`: "items[1].votes[0]") and its command."""

    key: str
    command: CreateVote


@dataclass(frozen=True)
class SittingPlan:
    """A validated sitting file: the command that opens the sitting and the votes to prepare."""

    source: str
    opening: OpenSitting
    votes: tuple[PreparedVote, ...]

    @property
    def sitting_id(self) -> str:
        return self.opening.sitting_id

    def inputs(self, at: float) -> list[Input]:
        """Every command of the file at time `at`: the opening, then the votes in file order."""
        return [self.opening_at(at), *(self.vote_at(v, at) for v in self.votes)]

    def opening_at(self, at: float) -> OpenSitting:
        return _replace_at(self.opening, at)

    @staticmethod
    def vote_at(vote: PreparedVote, at: float) -> CreateVote:
        return _replace_at(vote.command, at)

    def check(self, hall: Hall, language: Language = Language.EN) -> list[str]:
        """Run the file's commands through a fresh core of `hall`, as the daemon will take
        them; returns the warnings it gives (a vote's rule or mode that is not its kind's), as
        "KEY: sentence". Raises `SittingFileError` naming the key of the first command the
        core refuses (its sentence in `language`)."""
        core = MeetingCore(hall)
        try:
            core.handle(self.opening_at(0.0))
        except CommandRejected as exc:
            raise self.error("sitting", exc, language) from None
        warnings: list[str] = []
        for vote in self.votes:
            try:
                core.handle(self.vote_at(vote, 0.0))
            except CommandRejected as exc:
                raise self.error(vote.key, exc, language) from None
            made = core.votes[vote.command.vote_id]
            data = core.ballots.vote_json(made, 0.0)
            warnings.extend(f"{vote.key}: {w['text']}" for w in data.get("warnings", []))
        return warnings

    def error(self, key: str, exc: CommandRejected, language: Language) -> SittingFileError:
        return SittingFileError(
            f"{self.source}: {key}: {refusal_text(language, exc.code, exc.params)}"
        )


def _replace_at(inp: _In, at: float) -> _In:
    return dataclasses.replace(inp, at=at)


def _person(value: str, hall: HallConfig, key: str) -> Person:
    """A chair or secretary as the file gives it: an id of a delegate of the hall, or a name
    (Vietnamese names have spaces: a single word of id characters is taken for an id)."""
    if not value:
        return Person("")
    names = {d.id: d.name for d in hall.hall.delegates}
    if value in names:
        return Person(names[value], value)
    if _DELEGATE_ID.fullmatch(value):
        raise _KeyError(
            key,
            f"no delegate {value!r} in the hall (write a delegate's id, or a name with its "
            'spaces, e.g. "Nguyễn Văn An")',
        )
    return Person(value)


class _KeyError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def vote_id_for(sitting_id: str, item_id: str, number: int) -> str:
    """A prepared vote's id when the file gives none: "ky-hop-9.2.1" (the sitting, the item,
    the vote's number in the item from 1). Unique across sittings, as vote ids must be."""
    return f"{sitting_id}.{item_id}.{number}"


def parse_sitting(
    data: Any,
    hall: HallConfig,
    source: str = "<sitting>",
    *,
    check: bool = True,
    language: Language = Language.EN,
) -> SittingPlan:
    """Validate an already-parsed sitting file against `hall`; `check` also runs its commands
    through a fresh core of the hall (`SittingPlan.check`, its refusals in `language`)."""
    if not isinstance(data, dict):
        raise SittingFileError(f"{source}: a sitting file is a table (an object in JSON)")
    try:
        model = SittingFileModel.model_validate(data)
    except ValidationError as exc:
        raise SittingFileError(f"{source}: {describe(exc)}") from None
    try:
        plan = _plan(model, hall, source)
    except _KeyError as exc:
        raise SittingFileError(f"{source}: {exc.key}: {exc.message}") from None
    if check:
        plan.check(hall.hall, language)
    return plan


def _plan(model: SittingFileModel, hall: HallConfig, source: str) -> SittingPlan:
    s = model.sitting
    seen_items: dict[str, int] = {}
    for i, item in enumerate(model.items):
        if item.id in seen_items:
            raise _KeyError(f"items[{i}].id", f"{item.id!r} repeats items[{seen_items[item.id]}]")
        seen_items[item.id] = i
    chair = _person(s.chair, hall, "sitting.chair")
    secretary = _person(s.secretary, hall, "sitting.secretary")
    date = s.date if isinstance(s.date, datetime.date) else None
    opening = OpenSitting(
        at=0.0,
        sitting_id=s.id,
        title=s.title,
        agenda=tuple(AgendaItemSpec(i.id, i.title, i.title_en) for i in model.items),
        title_en=s.title_en,
        date=date.isoformat() if date is not None else "",
        place=s.place if s.place is not None else hall.place,
        chair=chair.name,
        chair_id=chair.delegate_id,
        secretary=secretary.name,
        secretary_id=secretary.delegate_id,
    )
    votes: list[PreparedVote] = []
    vote_keys: dict[str, str] = {}
    for i, item in enumerate(model.items):
        for j, v in enumerate(item.votes):
            key = f"items[{i}].votes[{j}]"
            vote_id = v.id if v.id is not None else vote_id_for(s.id, item.id, j + 1)
            if len(vote_id) > MAX_VOTE_ID:
                raise _KeyError(key, f"its id {vote_id!r} is longer than {MAX_VOTE_ID} characters")
            if vote_id in vote_keys:
                raise _KeyError(f"{key}.id", f"{vote_id!r} is the id of {vote_keys[vote_id]} too")
            vote_keys[vote_id] = key
            answers = v.answers
            if answers is None and v.choices:
                answers = AnswerSet.CHOICES
            votes.append(
                PreparedVote(
                    key,
                    CreateVote(
                        at=0.0,
                        vote_id=vote_id,
                        title=v.title,
                        answers=answers,
                        choices=tuple(v.choices),
                        mode=v.mode,
                        rule=v.rule,
                        duration_s=v.duration_s,
                        warning_s=v.warning_s,
                        change_until_close=v.change_until_close,
                        quorum_required=v.quorum_required,
                        item_id=item.id,
                        vote_kind=v.kind,
                        practice=v.practice,
                    ),
                )
            )
    return SittingPlan(source, opening, tuple(votes))


def read_sitting_text(text: str, fmt: Format, source: str = "<sitting>") -> Any:
    """A sitting file's document from its text; raises `SittingFileError` naming the line of
    a syntax error."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SITTING_FILE_BYTES:
        raise SittingFileError(f"{source}: larger than {MAX_SITTING_FILE_BYTES // 1024} KiB")
    try:
        if fmt == "toml":
            return tomllib.loads(text)
        return json.loads(text, parse_constant=_no_constant)
    except tomllib.TOMLDecodeError as exc:
        raise SittingFileError(f"{source}: TOML syntax: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SittingFileError(
            f"{source}: line {exc.lineno}, column {exc.colno}: JSON syntax: {exc.msg}"
        ) from None
    except RecursionError:
        raise SittingFileError(f"{source}: nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits, NaN in JSON
        raise SittingFileError(f"{source}: {str(exc)[:120]}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a sitting file may hold")


def format_of(path: Path | str) -> Format:
    """The format a file's name says: .json is JSON, anything else TOML."""
    return "json" if str(path).lower().endswith(".json") else "toml"


def read_sitting_bytes(raw: bytes, fmt: Format, source: str) -> Any:
    if len(raw) > MAX_SITTING_FILE_BYTES:
        raise SittingFileError(f"{source}: larger than {MAX_SITTING_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SittingFileError(
            f"{source}: line {line}: not UTF-8 text (save the file as UTF-8; a legacy "
            "Vietnamese encoding such as TCVN3 or VNI is not read)"
        ) from None
    return read_sitting_text(text.removeprefix("\ufeff"), fmt, source)


def load_sitting(
    path: Path | str, hall: HallConfig, language: Language = Language.EN
) -> SittingPlan:
    """Read and validate a sitting file (TOML, or JSON by its name) against `hall`; the
    core's refusals are worded in `language`."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SITTING_FILE_BYTES + 1)
    except OSError as exc:
        raise SittingFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = read_sitting_bytes(raw, format_of(path), str(path))
    return parse_sitting(data, hall, str(path), language=language)
