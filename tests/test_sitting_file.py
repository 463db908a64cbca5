"""The sitting file: the example reads, every key is checked with an error that names it (or
the line, for syntax), text is NFC, and nothing but a `SittingFileError` comes out of junk."""

from __future__ import annotations

import copy
import json
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.limits import MAX_AGENDA_ITEMS, MAX_TITLE
from chamber.controller.core.model import Language, VoteKind, VoteMode
from chamber.controller.sitting_file import (
    SittingFileError,
    load_sitting,
    parse_sitting,
    read_sitting_bytes,
    read_sitting_text,
)

ROOT = Path(__file__).resolve().parents[1]
HALL = ROOT / "examples" / "vn-council.toml"
EXAMPLE = ROOT / "examples" / "vn-council-sitting.toml"


@pytest.fixture(scope="module")
def hall() -> HallConfig:
    return load_config(HALL)


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def refused(data: Any, hall: HallConfig) -> str:
    with pytest.raises(SittingFileError) as caught:
        parse_sitting(data, hall, "s.toml")
    return str(caught.value)


def test_the_example_reads_and_the_hall_takes_every_vote(hall: HallConfig) -> None:
    plan = load_sitting(EXAMPLE, hall)
    assert plan.sitting_id == "ky-hop-thu-9"
    opening = plan.opening
    assert opening.date == "2026-12-02"
    assert (opening.chair, opening.chair_id) == ("Phạm Mạnh Dũng", "d0001")
    assert (opening.secretary, opening.secretary_id) == ("Nguyễn Thị Thu Hà", "")
    assert [a.id for a in opening.agenda] == ["1", "2", "3", "4"]
    assert all(a.title_en for a in opening.agenda)
    ids = [v.command.vote_id for v in plan.votes]
    assert ids == [
        "ky-hop-thu-9.1.1",
        "ky-hop-thu-9.1.2",
        "ky-hop-thu-9.2.1",
        "ky-hop-thu-9.3.1",
        "ky-hop-thu-9.4.1",
        "ky-hop-thu-9.4.2",
    ]
    assert plan.votes[0].command.practice
    assert plan.votes[4].command.vote_kind is VoteKind.REMOVAL
    assert plan.votes[5].command.duration_s == 0.0
    assert plan.check(hall.hall) == []


def test_json_reads_as_toml_does(hall: HallConfig, tmp_path: Path) -> None:
    data = example()
    data["sitting"]["date"] = data["sitting"]["date"].isoformat()
    path = tmp_path / "sitting.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert load_sitting(path, hall).inputs(5.0) == load_sitting(EXAMPLE, hall).inputs(5.0)


def test_every_command_takes_the_time_given(hall: HallConfig) -> None:
    inputs = load_sitting(EXAMPLE, hall).inputs(12.5)
    assert {i.at for i in inputs} == {12.5}
    assert inputs[0].kind == "open-sitting"
    assert {i.kind for i in inputs[1:]} == {"create-vote"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["items"][0].update(votse=[]), "items[0].votse: unknown key"),
        (lambda d: d["items"][1]["votes"][0].pop("title"), "items[1].votes[0].title: missing"),
        (lambda d: d["sitting"].update(id="kỳ họp 9"), "sitting.id:"),
        (lambda d: d["items"][2].update(id="2"), "items[2].id: '2' repeats items[1]"),
        (lambda d: d["sitting"].update(chair="d9999"), "sitting.chair: no delegate 'd9999'"),
        (lambda d: d["sitting"].update(date="2026-02-30"), "sitting.date: not a date of the"),
        (lambda d: d["sitting"].update(date="2/12/2026"), "sitting.date: not a date"),
        (lambda d: d["items"][0]["votes"][1].update(mode="hidden"), "items[0].votes[1].mode:"),
        (lambda d: d["items"][0]["votes"][1].update(duration_s=-1), "votes[1].duration_s:"),
        (lambda d: d["items"][0]["votes"][1].update(duration_s=float("nan")), "duration_s:"),
        (lambda d: d["items"][0]["votes"][1].update(duration_s="60"), "duration_s:"),
        (lambda d: d["items"][0]["votes"][1].update(title="Hai\ndòng"), "control character"),
        (lambda d: d["items"][0].update(title="   "), "items[0].title: is blank"),
        (lambda d: d.update(items=[]), "items:"),
        (
            lambda d: d["items"].extend(
                {"id": f"x{n}", "title": "t"} for n in range(MAX_AGENDA_ITEMS)
            ),
            "items:",
        ),
        (lambda d: d["items"][0].update(title="x" * (MAX_TITLE + 1)), "items[0].title:"),
        (
            lambda d: d["items"][0]["votes"][1].update(id="ky-hop-thu-9.1.1"),
            "items[0].votes[1].id: 'ky-hop-thu-9.1.1' is the id of items[0].votes[0] too",
        ),
        # What the core refuses, named by the vote's key.
        (
            lambda d: d["items"][1]["votes"][0].update(rule="two-thirds"),
            "items[1].votes[0]: ",
        ),
        (
            lambda d: d["items"][1]["votes"][0].update(duration_s=30, warning_s=30),
            "items[1].votes[0]: ",
        ),
        (
            lambda d: d["items"][1]["votes"][0].update(answers="yes-no", choices=["A", "B"]),
            "items[1].votes[0]: ",
        ),
        (lambda d: d["items"][1]["votes"][0].update(choices=["A"]), "items[1].votes[0]: "),
    ],
)
def test_a_wrong_key_is_named(change: Any, where: str, hall: HallConfig) -> None:
    data = example()
    change(data)
    message = refused(data, hall)
    assert message.startswith("s.toml: ")
    assert where in message, message


def test_the_core_s_refusal_reads_in_the_language_asked(hall: HallConfig) -> None:
    data = example()
    data["items"][1]["votes"][0]["rule"] = "two-thirds"
    plan = parse_sitting(data, hall, "s.toml", check=False)
    with pytest.raises(SittingFileError) as vi:
        plan.check(hall.hall, Language.VI)
    assert "items[1].votes[0]: " in str(vi.value)
    assert "two-thirds" in str(vi.value)


def test_a_rule_that_is_not_the_kind_s_is_a_warning(hall: HallConfig) -> None:
    data = example()
    data["items"][3]["votes"][0]["mode"] = "open"  # a removal is secret by law
    warnings = parse_sitting(data, hall, "s.toml").check(hall.hall)
    assert len(warnings) == 1
    assert warnings[0].startswith("items[3].votes[0]: ")
    assert parse_sitting(data, hall).votes[4].command.mode is VoteMode.OPEN


def test_a_syntax_error_names_the_line() -> None:
    with pytest.raises(SittingFileError, match=r"s\.toml: TOML syntax: .*line 3"):
        read_sitting_text('[sitting]\nid = "a"\ntitle = \n', "toml", "s.toml")
    with pytest.raises(SittingFileError, match=r"s\.json: line 2, column \d+: JSON syntax"):
        read_sitting_text('{"sitting":\n {,}}', "json", "s.json")
    with pytest.raises(SittingFileError, match="NaN is not a number"):
        read_sitting_text('{"x": NaN}', "json", "s.json")


def test_a_legacy_encoding_is_refused_with_its_line() -> None:
    # "Kỳ họp" in TCVN3 bytes is not UTF-8.
    raw = b'[sitting]\nid = "a"\ntitle = "K\xfa h\xe4p"\n'
    with pytest.raises(SittingFileError, match=r"s\.toml: line 3: not UTF-8 text .*TCVN3"):
        read_sitting_bytes(raw, "toml", "s.toml")


def test_text_is_stored_in_nfc(hall: HallConfig) -> None:
    data = example()
    decomposed = unicodedata.normalize("NFD", "Thông qua Nghị quyết về ngân sách")
    data["items"][1]["votes"][0]["title"] = decomposed
    data["sitting"]["secretary"] = unicodedata.normalize("NFD", "Nguyễn Thị Thu Hà")
    plan = parse_sitting(data, hall)
    title = plan.votes[2].command.title
    assert title == unicodedata.normalize("NFC", decomposed)
    assert title != decomposed
    assert plan.opening.secretary == "Nguyễn Thị Thu Hà"


def test_a_chair_written_as_a_name_is_a_name(hall: HallConfig) -> None:
    data = example()
    data["sitting"]["chair"] = "Vũ Diệu Trang"
    plan = parse_sitting(data, hall)
    assert (plan.opening.chair, plan.opening.chair_id) == ("Vũ Diệu Trang", "")


def test_the_place_defaults_to_the_hall_s(hall: HallConfig) -> None:
    data = example()
    del data["sitting"]["place"]
    assert parse_sitting(data, hall).opening.place == hall.place


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))] or [path]
    return [path]


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_junk_anywhere_is_a_sitting_file_error_or_a_valid_plan(
    data: st.DataObject, hall: HallConfig
) -> None:
    document = copy.deepcopy(BASE)
    paths = _leaves(document)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(paths))
        node: Any = document
        for part in path[:-1]:
            node = node[part]
        if path:
            node[path[-1]] = data.draw(JUNK)
    try:
        plan = parse_sitting(document, hall, "s.toml")
    except SittingFileError as exc:
        message = str(exc)
        plan = None
    if plan is None:
        assert message.startswith("s.toml: ")
        return
    # Taken: every text of it is NFC, and the hall takes its commands.
    for inp in plan.inputs(0.0):
        for value in vars(inp).values():
            if isinstance(value, str):
                assert unicodedata.is_normalized("NFC", value)


BASE = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


@settings(max_examples=200, deadline=None)
@given(title=st.text(min_size=0, max_size=600))
def test_any_title_is_taken_as_nfc_or_refused_by_key(title: str, hall: HallConfig) -> None:
    document = copy.deepcopy(BASE)
    document["items"][1]["votes"][0]["title"] = title
    try:
        plan = parse_sitting(document, hall, "s.toml")
    except SittingFileError as exc:
        message = str(exc)
        plan = None
    if plan is None:
        assert "items[1].votes[0]" in message
        return
    assert plan.votes[2].command.title == unicodedata.normalize("NFC", title)
