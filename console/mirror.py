"""The console's local mirror of the daemon's live state, and typed views of it.

The daemon streams its view of the hall for the console's token (docs/stream.md): a snapshot,
then numbered patches to it. The mirror holds the view and applies each patch as it comes;
it never re-derives anything the daemon decided and never fetches the state again. A patch
whose `prev` is newer than the mirror's number (one went missing) or that does not fit the
view is a `StreamError`: the client reconnects, resuming after the last number it holds, and
the daemon sends the patches since, or a fresh snapshot.

The mirror also says which parts of the view changed since the screen last asked
(`take_changes`), so that the console redraws only those.

No I/O, no clock: the client feeds messages and local times in. Every read of the daemon's
JSON is defensive (the view's keys may grow; a missing key is an empty value, never a crash).
"""

from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from chamber.console.patch import PatchError, apply

# The parts of the view, as `take_changes` names them: its top-level keys.
ALL_PARTS = frozenset(
    {"sitting", "attendance", "quorum", "votes", "active_vote", "floor", "health", "now", "hall"}
    | {"triage"}
)


class StreamError(ValueError):
    """The daemon sent a message the mirror cannot read (the peer's fault, not ours)."""


class VoteState(StrEnum):
    PREPARED = "prepared"
    OPEN = "open"
    HOLD = "hold"
    CLOSED = "closed"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    ANNULLED = "annulled"
    UNKNOWN = "unknown"


class VoteMode(StrEnum):
    OPEN = "open"
    SECRET = "secret"
    ROLL_CALL = "roll-call"
    UNKNOWN = "unknown"


ACTIVE = frozenset({VoteState.OPEN, VoteState.HOLD})
DONE = frozenset({VoteState.CLOSED, VoteState.PUBLISHED, VoteState.CANCELLED, VoteState.ANNULLED})


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return default


def _float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _str(value: object) -> str:
    # Names arrive as the daemon stores them; NFC keeps a decomposed "ế" one terminal cell.
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else ""


E = TypeVar("E", bound=StrEnum)


def _enum(kind: type[E], value: object, default: E) -> E:
    try:
        return kind(str(value))
    except ValueError:
        return default


# --- typed views ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeatInfo:
    number: int
    row: int
    col: int
    delegate_id: str | None
    name: str
    mic_class: str


@dataclass(frozen=True)
class HallInfo:
    hall_id: str
    name: str
    short_name: str
    members: int
    language: str
    seats: tuple[SeatInfo, ...]
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HallInfo:
        names = {_str(d.get("id")): _str(d.get("name")) for d in _list(data.get("delegates"))}
        seats = []
        for s in _list(data.get("seats")):
            s = _dict(s)
            delegate = s.get("delegate")
            delegate_id = _str(delegate) if isinstance(delegate, str) else None
            seats.append(
                SeatInfo(
                    number=_int(s.get("number")),
                    row=_int(s.get("row"), 1),
                    col=_int(s.get("col"), 1),
                    delegate_id=delegate_id,
                    name=names.get(delegate_id, "") if delegate_id else "",
                    mic_class=_str(s.get("mic_class")),
                )
            )
        return cls(
            hall_id=_str(data.get("id")),
            name=_str(data.get("name")),
            short_name=_str(data.get("short_name")),
            members=_int(data.get("members")),
            language=_str(data.get("language")) or "vi",
            seats=tuple(sorted(seats, key=lambda s: s.number)),
            names=names,
        )

    def seat(self, number: int) -> SeatInfo | None:
        for s in self.seats:
            if s.number == number:
                return s
        return None


@dataclass(frozen=True)
class SittingView:
    open: bool
    sitting_id: str
    title: str
    item_id: str | None
    item_title: str
    # The prepared vote the chair's "next vote" key opens (agenda order), if any.
    next_vote: str | None = None


@dataclass(frozen=True)
class AttendanceView:
    present: int
    required: int
    quorate: bool
    present_seats: frozenset[int]


@dataclass(frozen=True)
class Outcome:
    adopted: bool
    tie: bool
    required: int
    base_count: int
    explanation: str


@dataclass(frozen=True)
class ResultView:
    totals: tuple[tuple[str, int], ...]
    voted: int
    did_not_vote: int
    present: int
    outcome: Outcome | None
    # Seat -> key, for a vote that is not secret (the daemon sends none for a secret one).
    choices: dict[int, int] = field(default_factory=dict)
    # Who took part, and the seats of the electorate at the close that did not ("Không tham gia").
    participants: frozenset[int] = frozenset()
    did_not_vote_seats: frozenset[int] = frozenset()


@dataclass(frozen=True)
class VoteView:
    vote_id: str
    title: str
    state: VoteState
    mode: VoteMode
    options: tuple[str, ...]
    duration_s: float | None
    deadline: float | None
    countdown_s: float | None
    electorate: int
    voted: int
    # None while a secret ballot is running: the daemon does not send interim totals.
    totals: tuple[int, ...] | None
    choices: dict[int, int]
    result: ResultView | None

    @property
    def secret(self) -> bool:
        return self.mode is VoteMode.SECRET


@dataclass(frozen=True)
class Speaker:
    seat: int
    delegate_id: str | None
    list: str
    started: float | None
    limit_s: float | None
    time_left_s: float | None
    # Silenced by the chair's priority key (the turn and its clock go on).
    muted: bool = False


@dataclass(frozen=True)
class Waiting:
    seat: int
    delegate_id: str | None
    position: int


@dataclass(frozen=True)
class FloorView:
    mode: str
    live: tuple[Speaker, ...]
    waiting: dict[str, tuple[Waiting, ...]]
    priority: bool

    @property
    def live_seats(self) -> frozenset[int]:
        return frozenset(s.seat for s in self.live)

    @property
    def waiting_seats(self) -> frozenset[int]:
        return frozenset(w.seat for ws in self.waiting.values() for w in ws)


@dataclass(frozen=True)
class UnitView:
    line: str
    address: int
    seat: int
    kind: str
    online: bool
    response_ms: float | None
    errors: int
    reboots: int
    lost_events: int = 0
    contract: str = ""
    contract_state: str = ""
    # What is wrong with the unit, in the daemon's words ("" when nothing).
    fault: str = ""

    @property
    def key(self) -> str:
        """The unit's key in the views: "LINE/ADDRESS"."""
        return f"{self.line}/{self.address}"


@dataclass(frozen=True)
class LineSummaryView:
    """One line as the technician's summary has it (the daemon's triage, worst first)."""

    line: str
    connected: bool
    detail: str
    online: int
    total: int
    cycle_ms: float | None
    errors: int
    reboots: int
    faults: int


@dataclass(frozen=True)
class FaultView:
    """One fault of the daemon's list: per line or unit and kind, with its times (daemon
    clock), how often, and whether the technician has acknowledged it."""

    id: str
    line: str
    address: int | None
    seat: int | None
    kind: str
    first_at: float | None
    last_at: float | None
    count: int
    active: bool
    acknowledged: bool
    detail: str


@dataclass(frozen=True)
class ForcedMicView:
    seat: int
    since: float | None


@dataclass(frozen=True)
class TriageView:
    lines: tuple[LineSummaryView, ...]
    # The units' keys, the most troubled first.
    unit_order: tuple[str, ...]
    faults: tuple[FaultView, ...]
    forced_mics: tuple[ForcedMicView, ...]


@dataclass(frozen=True)
class LineView:
    line: str
    connected: bool
    detail: str
    cycle_ms: float | None


def _vote_view(v: dict[str, Any]) -> VoteView:
    tally = _dict(v.get("tally"))
    totals_raw = tally.get("totals")
    totals = tuple(_int(x) for x in totals_raw) if isinstance(totals_raw, list) else None
    choices = {
        _int(c.get("seat")): _int(c.get("key"))
        for c in map(_dict, _list(v.get("choices")))
        if "seat" in c
    }
    result = _result_view(v.get("result"))
    return VoteView(
        vote_id=_str(v.get("vote_id")),
        title=_str(v.get("title")),
        state=_enum(VoteState, v.get("state"), VoteState.UNKNOWN),
        mode=_enum(VoteMode, v.get("mode"), VoteMode.UNKNOWN),
        options=tuple(_str(o) for o in _list(v.get("options"))),
        duration_s=_float(v.get("duration_s")),
        deadline=_float(v.get("deadline")),
        countdown_s=_float(v.get("countdown_s")),
        # The one figure beside "voted" (voted + did not vote once decided); an older
        # daemon sent only the electorate at the open.
        electorate=_int(v.get("electorate", v.get("electorate_at_open"))),
        voted=_int(tally.get("voted")),
        totals=totals,
        choices=choices,
        result=result,
    )


def _limit(value: object) -> float | None:
    """A turn's time limit; None for an untimed turn (the core sends 0 for those)."""
    limit = _float(value)
    return limit if limit is not None and limit > 0 else None


def _result_view(raw: object) -> ResultView | None:
    if not isinstance(raw, dict):
        return None
    totals = tuple(
        (_str(t.get("label")), _int(t.get("count"))) for t in map(_dict, _list(raw.get("totals")))
    )
    o = raw.get("outcome")
    outcome = None
    if isinstance(o, dict):
        outcome = Outcome(
            adopted=bool(o.get("adopted")),
            tie=bool(o.get("tie")),
            required=_int(o.get("required")),
            base_count=_int(o.get("base_count")),
            explanation=_str(o.get("explanation")),
        )
    return ResultView(
        totals=totals,
        voted=_int(raw.get("voted")),
        did_not_vote=_int(raw.get("did_not_vote")),
        present=_int(raw.get("present")),
        outcome=outcome,
        choices={
            _int(c.get("seat")): _int(c.get("key"))
            for c in map(_dict, _list(raw.get("choices")))
            if "seat" in c
        },
        participants=frozenset(_int(x) for x in _list(raw.get("participants"))),
        did_not_vote_seats=frozenset(_int(x) for x in _list(raw.get("did_not_vote_seats"))),
    )


# --- the mirror -----------------------------------------------------------------------------


class Mirror:
    """The daemon's view as the last snapshot and the patches since left it."""

    def __init__(self) -> None:
        self.seq = -1  # nothing yet
        self.stream: str | None = None  # the daemon run that `seq` counts in
        self.state: dict[str, Any] = {}
        self._offset: float | None = None
        self._changed: set[str] = set(ALL_PARTS)
        # The votes read from the view, and the number of the view they were read at.
        self._votes_memo: tuple[int, tuple[VoteView, ...]] | None = None

    @property
    def ready(self) -> bool:
        return self.seq >= 0

    def take_changes(self) -> frozenset[str]:
        """The parts of the view (top-level keys) changed since the last call."""
        changed = frozenset(self._changed)
        self._changed.clear()
        return changed

    # --- feeding ---------------------------------------------------------------------------

    def feed(self, message: object, local_now: float) -> None:
        """One message of the stream. Raises `StreamError` for one that makes no sense, or
        one that does not follow what the mirror holds (the client then reconnects)."""
        msg = _dict(message)
        kind = msg.get("type")
        seq = msg.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise StreamError(f"stream message without a sequence number: {kind!r}")
        if kind == "snapshot":
            state = msg.get("state")
            if not isinstance(state, dict):
                raise StreamError("snapshot without a state")
            stream = msg.get("stream")
            self.adopt(seq, state, local_now, stream=stream if isinstance(stream, str) else None)
            self._observe(msg.get("clock"), local_now)
            return
        if kind != "patch":
            raise StreamError(f"unknown stream message type {kind!r}")
        if seq <= self.seq:
            return  # already part of the view (a resend after a reconnect)
        prev = msg.get("prev")
        ops = msg.get("ops")
        if not isinstance(prev, int) or isinstance(prev, bool) or not isinstance(ops, list):
            raise StreamError(f"patch {seq} without its previous number or operations")
        if not self.ready or prev > self.seq:
            # One went missing: resuming after `seq` brings it again.
            raise StreamError(f"patch {seq} follows {prev}, the console holds {self.seq}")
        self._observe(msg.get("clock"), local_now)
        parts = {_part(op) for op in ops}
        try:
            applied = apply(self.state, ops)
        except PatchError as exc:
            self.seq = -1  # the view may be half changed: only a fresh snapshot will do
            raise StreamError(f"patch {seq} does not fit the view: {exc}") from None
        if not isinstance(applied, dict):
            self.seq = -1
            raise StreamError(f"patch {seq} makes the view something else than an object")
        self.state = applied
        self.seq = seq
        self._changed |= parts

    def adopt(
        self, seq: int, state: dict[str, Any], local_now: float, *, stream: str | None = None
    ) -> None:
        """Take a full view as of `seq`. `stream` names the daemon's run the numbers belong
        to: after a restart they start again."""
        if stream is not None:
            self.stream = stream
        self.state = copy.deepcopy(state)
        self.seq = seq
        self._votes_memo = None
        self._observe(state.get("now"), local_now)
        self._changed |= ALL_PARTS | set(self.state)

    def reset_clock(self) -> None:
        """Forget the daemon's clock offset (a new connection may be a restarted daemon)."""
        self._offset = None

    def _observe(self, at: object, local_now: float) -> None:
        daemon_at = _float(at)
        if daemon_at is None:
            return
        # The daemon's time of a message is at most its time now: the largest offset seen is
        # the closest to the truth.
        offset = daemon_at - local_now
        if self._offset is None or offset > self._offset:
            self._offset = offset

    def daemon_now(self, local_now: float) -> float | None:
        return None if self._offset is None else local_now + self._offset

    # --- views -----------------------------------------------------------------------------

    def training(self) -> bool:
        """The daemon runs a training hall (`[hall] training`): the screen must say so."""
        return bool(_dict(self.state.get("hall")).get("training"))

    def sitting(self) -> SittingView:
        s = _dict(self.state.get("sitting"))
        current = s.get("current_item")
        item_id = _str(current) if isinstance(current, str) else None
        title = ""
        for item in map(_dict, _list(s.get("agenda"))):
            if item.get("id") == item_id:
                title = _str(item.get("title"))
        following = s.get("next_vote")
        return SittingView(
            open=bool(s.get("open")),
            sitting_id=_str(s.get("sitting_id")),
            title=_str(s.get("title")),
            item_id=item_id,
            item_title=title,
            next_vote=following if isinstance(following, str) else None,
        )

    def attendance(self) -> AttendanceView:
        a = _dict(self.state.get("attendance"))
        q = _dict(self.state.get("quorum")) or _dict(a.get("quorum"))
        seats = frozenset(_int(s) for s in _list(a.get("present_seats")))
        return AttendanceView(
            present=_int(a.get("present"), len(seats)),
            required=_int(q.get("required")),
            quorate=bool(q.get("quorate")),
            present_seats=seats,
        )

    def votes(self) -> tuple[VoteView, ...]:
        # Read once per view the mirror holds (each patch numbers a new one; `adopt` forgets
        # them): a drawing pass asks several times.
        if self._votes_memo is None or self._votes_memo[0] != self.seq:
            votes = tuple(_vote_view(v) for v in map(_dict, _list(self.state.get("votes"))) if v)
            self._votes_memo = (self.seq, votes)
        return self._votes_memo[1]

    def current_vote(self) -> VoteView | None:
        """The vote the chair works on: the active one; else the newest prepared, unless a
        vote was closed after it was made (then that one, with its result, until the chair
        prepares or opens another); else the newest of all. Votes prepared together (a
        sitting file's, in one commit) are one "newest": of them, the next in agenda order
        (the sitting's `next_vote`)."""
        votes = self.votes()
        active = self.state.get("active_vote")
        for v in votes:
            if v.vote_id == active:
                return v
        raw = {_str(v.get("vote_id")): v for v in map(_dict, _list(self.state.get("votes")))}
        made = {vote_id: _float(v.get("created_at")) for vote_id, v in raw.items()}
        closed = [
            (at, n, v)
            for n, v in enumerate(votes)
            if (at := _float(raw.get(v.vote_id, {}).get("closed_at"))) is not None
        ]
        last_closed = max(closed, key=lambda c: (c[0], c[1])) if closed else None
        prepared = [v for v in votes if v.state is VoteState.PREPARED]
        if not prepared:
            return votes[-1] if votes else None
        newest = made.get(prepared[-1].vote_id)
        if last_closed is not None and newest is not None and last_closed[0] > newest:
            return last_closed[2]
        together = [v for v in prepared if newest is not None and made.get(v.vote_id) == newest]
        following = _dict(self.state.get("sitting")).get("next_vote")
        if len(together) > 1:
            for v in together:
                if v.vote_id == following:
                    return v
        return prepared[-1]

    def floor(self) -> FloorView:
        f = _dict(self.state.get("floor"))
        live = tuple(
            Speaker(
                seat=_int(s.get("seat")),
                delegate_id=s.get("delegate") if isinstance(s.get("delegate"), str) else None,
                list=_str(s.get("list")),
                started=_float(s.get("started")),
                # The core's 0 is "no limit" (a forced or chair microphone): no clock runs.
                limit_s=_limit(s.get("limit_s")),
                time_left_s=_float(s.get("time_left_s")),
                muted=s.get("muted") is True,
            )
            for s in map(_dict, _list(f.get("live")))
        )
        waiting: dict[str, tuple[Waiting, ...]] = {}
        for name, entries in _dict(f.get("waiting")).items():
            waiting[str(name)] = tuple(
                Waiting(
                    seat=_int(w.get("seat")),
                    delegate_id=w.get("delegate") if isinstance(w.get("delegate"), str) else None,
                    position=_int(w.get("position")),
                )
                for w in map(_dict, _list(entries))
            )
        return FloorView(
            mode=_str(f.get("mode")),
            live=live,
            waiting=waiting,
            priority=bool(_dict(f.get("priority")).get("active")),
        )

    def units(self) -> tuple[UnitView, ...]:
        units = [
            UnitView(
                line=_str(u.get("line")),
                address=_int(u.get("address")),
                seat=_int(u.get("seat")),
                kind=_str(u.get("kind")),
                online=bool(u.get("online")),
                response_ms=_float(u.get("response_ms")),
                errors=_int(u.get("crc_errors")) + _int(u.get("timeouts")),
                reboots=_int(u.get("reboots")),
                lost_events=_int(u.get("lost_events")),
                contract=_str(u.get("contract")),
                contract_state=_str(u.get("contract_state")),
                fault=_str(u.get("fault")),
            )
            for u in map(_dict, _list(_dict(self.state.get("health")).get("units")))
        ]
        return tuple(sorted(units, key=lambda u: (u.line, u.address)))

    def triage(self) -> TriageView:
        """The technician's triage as the daemon worked it out (lines worst first, units by
        trouble, the fault list, the forced microphones); empty from a daemon without one."""
        t = _dict(self.state.get("triage"))
        lines = tuple(
            LineSummaryView(
                line=_str(s.get("line")),
                connected=bool(s.get("connected")),
                detail=_str(s.get("detail")),
                online=_int(s.get("online")),
                total=_int(s.get("total")),
                cycle_ms=_float(s.get("cycle_ms")),
                errors=_int(s.get("errors")),
                reboots=_int(s.get("reboots")),
                faults=_int(s.get("faults")),
            )
            for s in map(_dict, _list(t.get("lines")))
            if s
        )
        faults = tuple(
            FaultView(
                id=_str(f.get("id")),
                line=_str(f.get("line")),
                address=None if f.get("address") is None else _int(f.get("address")),
                seat=None if f.get("seat") is None else _int(f.get("seat")),
                kind=_str(f.get("kind")),
                first_at=_float(f.get("first_at")),
                last_at=_float(f.get("last_at")),
                count=_int(f.get("count"), 1),
                active=bool(f.get("active")),
                acknowledged=bool(f.get("acknowledged")),
                detail=_str(f.get("detail")),
            )
            for f in map(_dict, _list(t.get("faults")))
            if f.get("id")
        )
        forced = tuple(
            ForcedMicView(seat=_int(m.get("seat")), since=_float(m.get("since")))
            for m in map(_dict, _list(t.get("forced_mics")))
            if m
        )
        order = tuple(_str(k) for k in _list(t.get("units")))
        return TriageView(lines, order, faults, forced)

    def lines(self) -> tuple[LineView, ...]:
        lines = [
            LineView(
                line=_str(ln.get("line")),
                connected=bool(ln.get("connected")),
                detail=_str(ln.get("detail")),
                cycle_ms=_float(ln.get("cycle_ms")),
            )
            for ln in map(_dict, _list(_dict(self.state.get("health")).get("lines")))
        ]
        return tuple(sorted(lines, key=lambda ln: ln.line))


def _part(op: object) -> str:
    path = _dict(op).get("path")
    return path.split("/")[1] if isinstance(path, str) and path.count("/") >= 1 else ""
