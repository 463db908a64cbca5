"""The torture run's books: every press accounted for by origin, and every secret kept.

Pure functions over what the run collected: the simulator's ground truth (each press a unit
registered, with the unit's boot and event number), the journal's records, the daemon's
results, and the artifacts an attacker can read. No I/O and no clock here, so the rules that
decide "lost", "doubled", "misattributed" and "secret link" can be read in one place.

An accepted press is one a unit registered while the vote was open at that unit: the unit was
unlocked, with the key among the vote's keys, and took it. A press the unit refused (it was
locked) is not lost: no correct controller could count it.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A JSON object with no nested object inside: journal bodies, log lines, payloads in a
# database page. Nested objects are found one level at a time.
# A JSON object whose members may be objects themselves, one level deep (a journal record
# with its actor): the search reads such a record whole, not only the actor inside it.
_FLAT_OBJECT = re.compile(rb"\{(?:[^{}]|\{[^{}]{0,400}\}){0,4000}\}")


@dataclass(frozen=True)
class TruthPress:
    """A press a unit registered: its seat, key, the unit's origin and when (loop time)."""

    seat: int
    key: int
    origin: str  # "kp:BOOT:SEQ" or "ip:BOOT:SEQ", as the drivers journal it
    at: float


@dataclass(frozen=True)
class VoteWindow:
    """One vote as the units saw it: from the open request until the close request."""

    vote_id: str
    secret: bool
    opened: float  # loop time just before the open was asked for
    closed: float  # loop time just before the close was asked for
    electorate: tuple[int, ...]


@dataclass
class Books:
    """The counts of a run; every one of them must be zero."""

    lost: int = 0
    doubled: int = 0
    misattributed: int = 0
    wrong_results: int = 0
    secret_links: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, other: Books) -> None:
        self.lost += other.lost
        self.doubled += other.doubled
        self.misattributed += other.misattributed
        self.wrong_results += other.wrong_results
        self.secret_links += other.secret_links
        self.details.extend(other.details)

    @property
    def clean(self) -> bool:
        return (
            not (self.lost or self.doubled or self.misattributed or self.wrong_results)
            and not self.secret_links
        )


def expected_choices(presses: Iterable[TruthPress], window: VoteWindow) -> dict[int, int]:
    """The final choice per seat (change until close) of the presses inside a window."""
    choices: dict[int, int] = {}
    allowed = set(window.electorate)
    for p in sorted(presses, key=lambda p: p.at):
        if window.opened <= p.at <= window.closed and p.seat in allowed:
            choices[p.seat] = p.key
    return choices


def totals_of(choices: Mapping[int, int], keys: int) -> list[int]:
    counted = Counter(choices.values())
    return [counted.get(k, 0) for k in range(1, keys + 1)]


def journal_presses(
    records: Iterable[tuple[int, Mapping[str, Any]]],
) -> tuple[dict[str, list[tuple[int, Mapping[str, Any]]]], list[tuple[int, Mapping[str, Any]]]]:
    """The vote-key records of each vote (between its open and close records), and those
    journaled while no vote was open."""
    per_vote: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    outside: list[tuple[int, Mapping[str, Any]]] = []
    current: str | None = None
    for seq, r in records:
        kind = r.get("kind")
        if kind == "open-vote":
            current = str(r.get("vote_id"))
            per_vote.setdefault(current, [])
        elif (
            kind in ("close-vote", "cancel-vote", "annul-vote") and str(r.get("vote_id")) == current
        ):
            current = None
        elif kind == "vote-key":
            if current is None:
                outside.append((seq, r))
            else:
                per_vote[current].append((seq, r))
    return per_vote, outside


def account_journal(
    truth: Sequence[TruthPress],
    windows: Sequence[VoteWindow],
    records: Sequence[tuple[int, Mapping[str, Any]]],
) -> Books:
    """Lost, doubled and misattributed presses, by origin, over the whole journal.

    - lost: an accepted press of an open vote with no journal record of its seat and origin;
    - doubled: a (seat, origin) journaled more than once (read twice, a duplicate, a replay);
    - misattributed: a record whose seat and origin match no press, or match one of another
      key, or one made in another vote's window (a secret press counted in the next vote,
      say), or a record of a secret vote's press at all (that one is a secret link too).
    """
    books = Books()
    by_origin: dict[tuple[int, str], TruthPress] = {(p.seat, p.origin): p for p in truth}
    window_of: dict[tuple[int, str], VoteWindow] = {}
    for p in truth:
        for w in windows:
            if w.opened <= p.at <= w.closed and p.seat in w.electorate:
                window_of[(p.seat, p.origin)] = w
    per_vote, outside = journal_presses(records)
    seen: Counter[tuple[int, str]] = Counter()
    secret_ids = {w.vote_id for w in windows if w.secret}
    for vote_id, recs in [*per_vote.items(), ("(no vote open)", outside)]:
        for seq, r in recs:
            seat, key, origin = r.get("seat"), r.get("key"), r.get("origin")
            ident = (int(seat) if isinstance(seat, int) else -1, str(origin))
            seen[ident] += 1
            if seen[ident] > 1:
                books.doubled += 1
                books.details.append(f"doubled: record {seq} seat {seat} origin {origin}")
                continue
            press = by_origin.get(ident)
            made_in = window_of.get(ident)
            if vote_id in secret_ids:
                books.secret_links += 1
                books.details.append(
                    f"secret link: journal record {seq} names seat {seat} and key {key} "
                    f"in secret vote {vote_id}"
                )
            if press is None or press.key != key or made_in is None or made_in.vote_id != vote_id:
                books.misattributed += 1
                where = "no such press" if press is None else f"pressed {press.key}"
                books.details.append(
                    f"misattributed: record {seq} seat {seat} key {key} origin {origin} "
                    f"counted in {vote_id} ({where}, made in "
                    f"{made_in.vote_id if made_in is not None else 'no vote'})"
                )
    for w in windows:
        if w.secret:
            continue
        for p in truth:
            if window_of.get((p.seat, p.origin)) is w and seen[(p.seat, p.origin)] == 0:
                books.lost += 1
                books.details.append(
                    f"lost: seat {p.seat} key {p.key} origin {p.origin} in {w.vote_id}"
                )
    return books


def account_result(
    window: VoteWindow,
    truth: Sequence[TruthPress],
    result: Mapping[str, Any] | None,
    keys: int,
) -> Books:
    """A closed vote's published result against the ground truth: totals exact, participants
    exact. For a secret vote this is the only accounting there is (the journal holds no
    seat->choice link by design): a missing participant is a lost press, an extra one or a
    total moved between keys is misattributed."""
    books = Books()
    expected = expected_choices(truth, window)
    want = totals_of(expected, keys)
    if result is None:
        books.wrong_results += 1
        books.lost += len(expected)
        books.details.append(f"{window.vote_id}: no result published")
        return books
    got = [int(t["count"]) for t in sorted(result["totals"], key=lambda t: int(t["key"]))]
    participants = {int(s) for s in result.get("participants", [])}
    if got != want or participants != set(expected):
        books.wrong_results += 1
        books.details.append(
            f"{window.vote_id}: totals {got} participants {len(participants)}, "
            f"truth {want} participants {len(expected)}"
        )
    if window.secret:
        missing = set(expected) - participants
        extra = participants - set(expected)
        moved = sum(abs(g - w) for g, w in zip(got, want, strict=False))
        books.lost += len(missing)
        books.misattributed += len(extra) + max(0, (moved - len(missing) - len(extra)) // 2)
        if result.get("choices"):
            books.secret_links += 1
            books.details.append(f"secret link: result of {window.vote_id} lists choices")
    return books


# --- the attacker's searches -------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    """What must stay unknown about one secret vote: each seat's choice, and where the
    presses that made them came from (their origins and the daemon-clock window)."""

    vote_id: str
    choices: Mapping[int, int]
    origins: frozenset[tuple[int, str]]  # (seat, origin) of every accepted press
    opened_at: float | None  # the daemon's clock, from its result
    closed_at: float | None


def json_objects(data: bytes) -> Iterator[dict[str, Any]]:
    """Every flat JSON object in a blob (a database page, a log, a payload), nested ones
    included one level at a time."""
    for match in _FLAT_OBJECT.finditer(data):
        try:
            value = json.loads(match.group(0).decode("utf-8", "replace"))
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value
            yield from (v for v in value.values() if isinstance(v, dict))


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def object_links(obj: Mapping[str, Any], secret: Secret) -> str | None:
    """Why a JSON object ties a seat to its choice in `secret`, or None.

    It must name a seat and a key (or choice) that is that seat's choice, and belong to the
    vote: its vote id, the origin of one of the vote's presses, or a time inside the vote."""
    seat = _as_int(obj.get("seat"))
    key = next(
        (_as_int(obj[k]) for k in ("key", "choice") if k in obj and obj[k] is not None), None
    )
    if seat is None or key is None or secret.choices.get(seat) is None:
        return None
    origin = obj.get("origin")
    at = obj.get("at")
    ours = (
        obj.get("vote_id") == secret.vote_id
        or (isinstance(origin, str) and (seat, origin) in secret.origins)
        or (
            isinstance(at, int | float)
            and secret.opened_at is not None
            and secret.opened_at <= float(at) <= (secret.closed_at or float("inf"))
        )
    )
    if ours and (secret.choices[seat] == key or isinstance(origin, str)):
        return f"seat {seat} key {key}"
    return None


def blob_links(name: str, data: bytes, secret: Secret) -> list[str]:
    found = []
    for obj in json_objects(data):
        why = object_links(obj, secret)
        if why is not None:
            found.append(f"{name}: {why}")
        if obj.get("vote_id") == secret.vote_id and obj.get("choices"):
            found.append(f"{name}: choices of {secret.vote_id}")
        if isinstance(obj.get("actor"), dict) and "seat" in obj and "key" in obj:
            # The actor of a command is an operator: a press never carries one.
            found.append(f"{name}: a press of seat {obj['seat']} with an actor")
    return found


def export_links(name: str, data: bytes, secret: Secret) -> list[str]:
    """The secretariat's exports of a secret vote: no seat's choice in the results (the JSON
    search), no choice in anyone's participation record, and in the minutes no list of who
    chose what under the vote."""
    found = blob_links(name, data, secret)
    text = data.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            return [*found, f"{name}: not JSON"]
        for delegate in body.get("delegates", []) if isinstance(body, dict) else []:
            for taken in delegate.get("votes", []):
                if taken.get("vote_id") == secret.vote_id and (
                    taken.get("key") is not None or taken.get("label") is not None
                ):
                    found.append(f"{name}: {delegate.get('delegate_id')}'s choice in the record")
    elif "<html" in text:
        section = minutes_section(text, secret.vote_id)
        if section is None:
            found.append(f"{name}: {secret.vote_id} not in the minutes, not searched")
        else:
            found += _named_choices(name, section, secret)
    return found


# The words that head the minutes' lists of names under an open vote (who answered what, who
# did not vote), in both languages: none may stand under a secret vote.
NAME_LIST_WORDS = (
    "Đại biểu theo từng nội dung biểu quyết",
    "Members by answer",
    "Có mặt, không tham gia biểu quyết (",
    "Present, did not vote (",
)


def minutes_section(page: str, vote_id: str) -> str | None:
    """The minutes' section of one vote (HTML), found by its `data-vote` attribute."""
    start = page.find(f'<section class="vote" data-vote="{vote_id}"')
    if start < 0:
        return None
    end = page.find("</section>", start)
    return page[start : end if end >= 0 else len(page)]


def _named_choices(name: str, section: str, secret: Secret) -> list[str]:
    found = []
    if 'class="names"' in section:
        found.append(f"{name}: a list of names under {secret.vote_id}")
    for words in NAME_LIST_WORDS:
        if words in section:
            found.append(f"{name}: who chose what under {secret.vote_id} ({words.strip(' (')})")
    return found


def minutes_pdf_links(name: str, pdf_text: str, page: str, secret: Secret) -> list[str]:
    """The printed minutes (the PDF's text, as pdftotext reads it) against the same minutes'
    HTML: the secret vote's part of the print, from its heading to the next vote's or the next
    part's, holds no list of names either."""
    section = minutes_section(page, secret.vote_id)
    if section is None:
        return [f"{name}: {secret.vote_id} not in the minutes, not searched"]
    heading = re.search(r"<h4>(.*?)</h4>", section, re.S)
    if heading is None:
        return [f"{name}: {secret.vote_id} has no heading in the minutes, not searched"]
    title = " ".join(html.unescape(heading.group(1)).split())
    text = " ".join(unicodedata.normalize("NFC", pdf_text).split())
    start = text.find(title)
    if start < 0:
        return [f"{name}: {secret.vote_id}'s heading not in the printed minutes, not searched"]
    ends = [
        i
        for marker in ("Biểu quyết ", "Vote ", "IV. ")
        if (i := text.find(marker, start + len(title))) >= 0
    ]
    printed = text[start : min(ends) if ends else len(text)]
    return [f for f in _named_choices(name, printed, secret) if "list of names" not in f]


# The answers of a yes/no/abstain vote, as the Vietnamese report would word them.
ANSWER_WORDS = ("tán thành", "không tán thành", "không biểu quyết")


def term_report_links(name: str, data: bytes, secret: Secret) -> list[str]:
    """The term report (Vietnamese, CSV or HTML) counts a delegate's votes and names none: it
    must hold neither the secret vote's id nor any answer's words, so no choice can stand
    beside a delegate's name in it."""
    found = blob_links(name, data, secret)
    text = data.decode("utf-8", errors="replace").casefold()
    if secret.vote_id.casefold() in text:
        found.append(f"{name}: names {secret.vote_id}")
    for words in ANSWER_WORDS:
        if words in text:
            found.append(f"{name}: an answer ({words}) in the report")
    return found


def value_links(name: str, value: Any, secret: Secret) -> list[str]:
    """The same search over a decoded JSON value (a stream message, an API answer)."""
    found: list[str] = []
    if isinstance(value, dict):
        why = object_links(value, secret)
        if why is not None:
            found.append(f"{name}: {why}")
        if value.get("vote_id") == secret.vote_id and value.get("choices"):
            found.append(f"{name}: choices of {secret.vote_id}")
        for v in value.values():
            found.extend(value_links(name, v, secret))
    elif isinstance(value, list):
        for v in value:
            found.extend(value_links(name, v, secret))
    return found


def stream_timing(name: str, views: Sequence[Mapping[str, Any]], secret: Secret) -> list[str]:
    """While the secret vote is open, no view the stream built shows a per-key total: with the
    seats marked voted, one would let a watcher pair seats with choices. `views` are the views
    as a client held them after each message (a snapshot, then each patch applied)."""
    found: list[str] = []
    for i, view in enumerate(views):
        votes = list(view.get("votes") or [])
        if isinstance(view.get("vote"), Mapping):
            votes.append(view["vote"])
        for v in votes:
            if not isinstance(v, Mapping) or v.get("vote_id") != secret.vote_id:
                continue
            if v.get("state") not in ("open", "hold", "prepared"):
                continue
            raw = v.get("tally")
            tally: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            if tally.get("totals") is not None or tally.get("weighted_totals") is not None:
                found.append(f"{name}: view {i} shows {secret.vote_id}'s totals while open")
        show = view.get("show")
        wall_vote = view.get("vote")
        if (
            isinstance(show, Mapping)
            and isinstance(wall_vote, Mapping)
            and wall_vote.get("vote_id") == secret.vote_id
            and wall_vote.get("state") in ("open", "hold", "prepared")
            and (show.get("counts") is not None or show.get("choices") or _shares(show))
        ):
            found.append(f"{name}: view {i} shows how {secret.vote_id} stands while open")
    return found


def _shares(show: Mapping[str, Any]) -> bool:
    """The wall view's worded figures (`show.text`, per language) hold an answer's count."""
    texts = show.get("text")
    if not isinstance(texts, Mapping):
        return False
    return any(isinstance(t, Mapping) and t.get("lines") for t in texts.values())


_RUNNING = ("open", "held", "prepared")


def wall_links(name: str, topic: str, value: Any, secret: Secret) -> list[str]:
    """What the MQTT wall twin must never carry of a secret vote: totals while it runs
    (`wall/vote`; beside the map of who has voted they would pair seats with choices), or a
    seat's key on its seat map (`wall/seats`), ever."""
    if not isinstance(value, Mapping):
        return []
    if (
        topic.endswith("/wall/vote")
        and value.get("id") == secret.vote_id
        and value.get("state") in _RUNNING
        and value.get("totals") is not None
    ):
        return [f"{name}: {topic} shows {secret.vote_id}'s totals while it runs"]
    if topic.endswith("/wall/seats") and value.get("vote_id") == secret.vote_id:
        seats = value.get("seats")
        marks = seats.values() if isinstance(seats, Mapping) else ()
        keyed = [m for m in marks if isinstance(m, int) and not isinstance(m, bool)]
        if keyed:
            return [f"{name}: {topic} shows {len(keyed)} seats' keys of {secret.vote_id}"]
    return []


def ring_links(name: str, seat: int, origins: Iterable[str], secret: Secret) -> list[str]:
    """Keypad ring entries (as origins "kp:BOOT:SEQ") that are presses of the secret vote."""
    return [
        f"{name}: seat {seat} ring holds {o} of {secret.vote_id}"
        for o in origins
        if (seat, o) in secret.origins
    ]


def backup_links(
    files: Mapping[str, bytes], secret_rows: Mapping[str, int], live: Sequence[bytes]
) -> list[str]:
    """What a backup must never hold of a secret vote open when it was taken: a key file
    (a vote's or the hall's signing key), a secret-ballot row in a journal (`secret_rows`: per
    journal file, its count), or any sealed press, nonce or vote key the live store held then
    (`live`). `files`: each backup file's name and bytes; none at all is a finding too."""
    found: list[str] = []
    if not files:
        found.append("backups: none taken, not searched")
    for name, data in files.items():
        if name.endswith(".key"):
            found.append(f"backups {name}: a key file")
        if any(blob and blob in data for blob in live):
            found.append(f"backups {name}: holds a sealed press or a vote key of the live store")
    for name, rows in secret_rows.items():
        if rows:
            found.append(f"backups {name}: {rows} secret-ballot rows")
    return found


# What a standby's data directory holds by design, copied at set-up: the shipping key and
# the hall's signing key (never a vote's key).
STANDBY_SETUP_KEYS = frozenset({"standby.key", "hall-ed25519.key"})


def standby_links(
    files: Mapping[str, bytes], secret_rows: Mapping[str, int], live: Sequence[bytes]
) -> list[str]:
    """What a cold standby's files must never hold of a secret vote: what a backup must not
    (`backup_links`: a key file, a secret-ballot row, a sealed press or vote key the active
    controller's live store held), the set-up keys aside, nor a vote-key directory at all.
    `files`: each file of the standby's data directory by its path there."""
    found = [f"standby {name}: a vote key directory" for name in files if "secret-keys" in name]
    kept = {n: d for n, d in files.items() if Path(n).name not in STANDBY_SETUP_KEYS}
    if kept:
        found += [
            line.replace("backups ", "standby ", 1)
            for line in backup_links(kept, secret_rows, live)
        ]
    if not files:
        found.append("standby: no file, not searched")
    return found


# The one series that names a unit's seat: a unit in trouble, with no time and no vote in it.
_SEAT_SERIES = frozenset({"chamber_unit_trouble"})
_VOTE_WORDS = ("choice", "ballot", "tally", "yes", "against", "abstain", "option", "key")


def metrics_links(scrapes: Sequence[str], secret: Secret) -> list[str]:
    """What `/metrics`, scraped while a secret vote runs, must never serve: a series naming
    a seat other than a unit in trouble (with its time, or next to anything of a vote), a
    series of a vote (its id in a label: its running figures), or a series named for choices
    or keys. `scrapes`: the text of each scrape taken then; none at all is a finding too."""
    from prometheus_client.parser import text_string_to_metric_families

    found: list[str] = []
    if not scrapes:
        found.append("metrics: never scraped during a secret vote, not searched")
    for i, text in enumerate(scrapes):
        where = f"metrics scrape {i + 1}"
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError as exc:
            found.append(f"{where}: not the Prometheus text format ({exc})")
            continue
        for family in families:
            if any(word in family.name for word in _VOTE_WORDS):
                found.append(f"{where}: {family.name} is a series of choices or keys")
            for sample in family.samples:
                labels = sample.labels
                if ("seat" in labels or "address" in labels) and family.name not in _SEAT_SERIES:
                    found.append(f"{where}: {sample.name} has a series per seat")
                if secret.vote_id in labels.values() or "vote" in labels:
                    found.append(f"{where}: {sample.name} has a series of vote {secret.vote_id}")
                if any(str(key) == labels.get("key") for key in set(secret.choices.values())):
                    found.append(f"{where}: {sample.name} has a series per key")
    return found
