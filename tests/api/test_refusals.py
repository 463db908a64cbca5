"""Every refusal in the hall's language: a walk over the whole table of refusal codes.

* Every code of `refusals.REFUSALS` has a Vietnamese and an English sentence, and no sentence
  is left without a code; every placeholder names a declared parameter, and every declared
  parameter is said in both languages.
* Every place in the daemon that raises a refusal (`CommandRejected`, the API's `Problem`, an
  `ExportError` with a code) names a code of the table, with exactly its parameters, and
  never a sentence of its own: found by reading the source (AST), not by a list kept by hand.
* Rendering never fails, whatever the parameters (hypothesis), in the daemon and in the
  console; a code nobody knows gives a generic sentence with the code.
* A sample of real refusals, driven through a real daemon's API, comes back with its code,
  its parameters, and the Vietnamese sentence (English when Accept-Language asks for it).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.console.i18n import Lang
from chamber.console.refusals import GENERIC, LOCAL, Catalogue
from chamber.controller.api.deps import accepted_language
from chamber.controller.api.problems import (
    DOC_BEGIN,
    DOC_END,
    catalogue,
    refusals_markdown,
    validation_refusal,
)
from chamber.controller.auth import Role
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import REFUSAL_TEXTS, placeholders, refusal_text
from chamber.controller.core.inputs import PresenceChanged
from chamber.controller.core.model import Language
from chamber.controller.core.refusals import REFUSALS, UNKNOWN, ParamType, misfits

from .conftest import SITTING, Hall

ROOT = Path(__file__).resolve().parents[2]
# Where the daemon's refusals are raised: the daemon's package (its core, API, exports).
SOURCES = sorted((ROOT / "controller").rglob("*.py"))
# The refusal types, and the argument that carries the code for each.
REFUSAL_TYPES = {"CommandRejected": 0, "Problem": 0, "ExportError": 1}
VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]")


# --- the table and its two catalogues ------------------------------------------------------------


def test_every_code_has_both_sentences_and_nothing_else_has_one() -> None:
    for language in Language:
        texts = REFUSAL_TEXTS[language]
        assert set(texts) == set(REFUSALS), language
        for code, text in texts.items():
            assert text.strip(), (language, code)
    for code in REFUSALS:
        assert REFUSAL_TEXTS[Language.VI][code] != REFUSAL_TEXTS[Language.EN][code], code


def test_every_placeholder_is_a_declared_parameter_and_every_parameter_is_said() -> None:
    for code, spec in REFUSALS.items():
        for language in Language:
            text = REFUSAL_TEXTS[language][code]
            used = placeholders(text)
            assert set(used) <= set(spec.params), (language, code, used)
            assert set(used) == set(spec.params), (language, code, "a parameter left unsaid")
            # No brace of any other form: a template is filled by name only.
            assert text.count("{") == text.count("}") == len(used), (language, code)


def test_the_vietnamese_sentences_are_vietnamese() -> None:
    for code, text in REFUSAL_TEXTS[Language.VI].items():
        assert VIETNAMESE.search(text.lower()), (code, text)
        assert text[0].isupper(), (code, text)
        assert text.endswith("."), (code, text)


def test_the_hall_vocabulary_is_used() -> None:
    vi = REFUSAL_TEXTS[Language.VI]
    assert "biểu quyết" in vi["vote.wrong_state"]
    assert "đại biểu" in vi["vote.no_quorum"]
    assert "kỳ họp" in vi["sitting.not_open"].lower()
    assert "chủ tọa" in refusal_text(
        Language.VI, "auth.role_forbidden", {"role": "technician", "allowed": "chair, secretary"}
    )


def test_codes_are_stable_names() -> None:
    for code, spec in REFUSALS.items():
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", code), code
        assert 400 <= spec.status < 600, code
        for name in spec.params:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name), (code, name)


# --- every raise site names a code of the table, with exactly its parameters --------------------


def _calls(tree: ast.AST) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            if isinstance(func, ast.Attribute):
                name = func.attr
            if name in REFUSAL_TYPES:
                yield name, node


def _literal_codes(node: ast.expr) -> list[str] | None:
    """The codes an argument can be: a literal, or a choice between literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _literal_codes(node.body), _literal_codes(node.orelse)
        if body is not None and orelse is not None:
            return body + orelse
    return None


def _forwarded(node: ast.expr) -> bool:
    """`exc.code`: a refusal passed on as it came (its code was checked where it was raised)."""
    return isinstance(node, ast.Attribute) and node.attr == "code"


def raise_sites() -> Iterator[tuple[str, int, str, ast.Call]]:
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for kind, call in _calls(tree):
            yield str(path.relative_to(ROOT)), call.lineno, kind, call


def test_the_walk_finds_the_raise_sites() -> None:
    found = {(p, kind) for p, _, kind, _ in raise_sites()}
    assert ("controller/core/votes.py", "CommandRejected") in found
    assert ("controller/core/floor.py", "CommandRejected") in found
    assert ("controller/api/deps.py", "Problem") in found
    assert sum(1 for _ in raise_sites()) > 60


def test_no_raise_site_writes_its_own_sentence() -> None:
    bad: list[str] = []
    for path, line, kind, call in raise_sites():
        where = f"{path}:{line} {kind}"
        position = REFUSAL_TYPES[kind]
        if kind == "ExportError" and len(call.args) < 2:
            # An export error with a message only is "export.failed" {reason}: its message
            # is the journal's or the file system's own words, not a refusal of the hall.
            continue
        if len(call.args) <= position:
            bad.append(f"{where}: no code")
            continue
        arg = call.args[position]
        codes = _literal_codes(arg)
        if codes is None:
            if not _forwarded(arg):
                bad.append(f"{where}: the code is not a literal ({ast.unparse(arg)})")
            continue
        extra = call.args[position + 1 :]
        if extra:
            bad.append(f"{where}: a sentence beside the code ({ast.unparse(extra[0])})")
        for code in codes:
            spec = REFUSALS.get(code)
            if spec is None:
                bad.append(f"{where}: {code!r} is not in the table")
                continue
            if any(k.arg is None for k in call.keywords):
                continue  # **params: passed on from a refusal of the table
            given_ = {k.arg for k in call.keywords}
            if given_ != set(spec.params):
                bad.append(f"{where}: {code} takes {sorted(spec.params)}, not {sorted(given_)}")
    assert not bad, "\n".join(bad)


# --- rendering ---------------------------------------------------------------------------------

SAMPLE: dict[ParamType, Any] = {
    ParamType.TEXT: "v3",
    ParamType.INT: 7,
    ParamType.NUMBER: 7.5,
    ParamType.VOTE_STATE: "closed",
    ParamType.VOTE_COMMAND: "open",
    ParamType.SPEAKER_LIST: "question",
    ParamType.ANSWER_SET: "yes-no",
    ParamType.ROLE: "technician",
    ParamType.ROLES: "chair, secretary",
    ParamType.VALUE_TYPE: "integer",
}


def sample_params(code: str) -> dict[str, Any]:
    return {name: SAMPLE[kind] for name, kind in REFUSALS[code].params.items()}


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_every_code_renders_in_both_languages(code: str) -> None:
    params = sample_params(code)
    console = Catalogue.from_json(catalogue())
    for language, lang in ((Language.VI, Lang.VI), (Language.EN, Lang.EN)):
        text = refusal_text(language, code, params)
        assert text, code
        assert "{" not in text, (code, text)
        assert "?" not in text, (code, text)
        # The console words it exactly as the daemon does, from the served catalogue.
        assert console.render(code, params, lang) == text
    assert not misfits(code, params)
    if code in CommandRejectedCodes:
        refused = CommandRejected(code, **params)
        assert refused.message == refusal_text(Language.EN, code, params)
        assert refused.text(Language.VI) == refusal_text(Language.VI, code, params)
        assert refused.kind == REFUSALS[code].kind


CommandRejectedCodes = {c for c, spec in REFUSALS.items() if spec.kind is not None}


def test_word_parameters_are_words_of_the_sentence_language() -> None:
    params = {"vote": "v3", "state": "closed", "command": "open"}
    assert refusal_text(Language.VI, "vote.wrong_state", params) == (
        "Không thể mở biểu quyết v3: biểu quyết đang ở trạng thái “đã kết thúc”."
    )
    assert refusal_text(Language.EN, "vote.wrong_state", params) == (
        "vote v3 is closed: cannot open it"
    )
    assert "7,5 giây" in refusal_text(Language.VI, "floor.speaking_time_range", {"max_s": 7.5})
    assert "7.5 s" in refusal_text(Language.EN, "floor.speaking_time_range", {"max_s": 7.5})
    assert "đăng ký chất vấn" in refusal_text(
        Language.VI, "floor.already_waiting", {"seat": 4, "list": "question"}
    )


def test_an_unknown_code_is_a_generic_sentence_with_the_code() -> None:
    for language in Language:
        text = refusal_text(language, "vote.from_the_future", {"vote": "v1"})
        assert "vote.from_the_future" in text
        assert text == REFUSAL_TEXTS[language][UNKNOWN].replace("{code}", "vote.from_the_future")
    console = Catalogue.from_json(catalogue())
    assert console.render("vote.from_the_future", {}, Lang.VI) == GENERIC[Lang.VI].replace(
        "{code}", "vote.from_the_future"
    )
    # A daemon that serves no catalogue at all: the generic sentence, with the code.
    assert "seat.not_found" in Catalogue().render("seat.not_found", {"seat": 3}, Lang.EN)
    refused = CommandRejected("vote.from_the_future")
    assert refused.kind == "conflict"
    assert "vote.from_the_future" in refused.message


def test_misfits_names_what_does_not_fit() -> None:
    assert misfits("seat.not_found", {"seat": 3}) == []
    assert misfits("seat.not_found", {"seat": "3"}) == ["seat: str for int"]
    assert misfits("seat.not_found", {"seat": True}) == ["seat: bool for int"]
    assert misfits("seat.not_found", {}) == ["seat: missing"]
    assert misfits("seat.not_found", {"seat": 3, "x": 1}) == ["x: not a parameter"]
    assert misfits("floor.speaking_time_range", {"max_s": 7}) == []
    assert misfits("nope", {}) == ["no refusal 'nope'"]


def test_a_missing_parameter_shows_as_a_question_mark() -> None:
    assert refusal_text(Language.VI, "seat.not_found", {}) == "Không có ghế số ?."
    assert Catalogue.from_json(catalogue()).render("seat.not_found", None, Lang.EN) == "no seat ?"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
CODES = st.sampled_from(sorted(REFUSALS)) | st.text(max_size=20)
PARAMS = st.dictionaries(
    st.sampled_from(sorted({n for s in REFUSALS.values() for n in s.params})) | st.text(max_size=8),
    JSON_VALUES,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(code=CODES, params=PARAMS)
def test_rendering_never_fails_whatever_the_parameters(code: str, params: dict[str, Any]) -> None:
    console = Catalogue.from_json(catalogue())
    for language, lang in ((Language.VI, Lang.VI), (Language.EN, Lang.EN)):
        text = refusal_text(language, code, params)
        assert isinstance(text, str)
        assert text
        shown = console.render(code, params, lang)
        assert isinstance(shown, str)
        assert shown
        if code not in REFUSALS:
            assert code in text
            if code not in LOCAL:  # the console's own refusals have sentences of their own
                assert code in shown


@settings(max_examples=100, deadline=None)
@given(data=JSON_VALUES, code=CODES, params=PARAMS)
def test_the_console_survives_any_catalogue(data: Any, code: str, params: dict[str, Any]) -> None:
    text = Catalogue.from_json({"codes": {code: data}, "words": data}).render(code, params, Lang.VI)
    assert isinstance(text, str)
    assert text


class _Weird:
    def __str__(self) -> str:
        raise RuntimeError("no words")


def test_a_value_without_words_does_not_break_the_sentence() -> None:
    text = refusal_text(Language.VI, "seat.not_found", {"seat": _Weird()})
    assert text == "Không có ghế số <_Weird>."
    assert refusal_text(Language.EN, "vote.duration_too_long", {"max_s": math.inf}) == (
        "a vote lasts at most inf s (0: no time limit)"
    )


# --- the language a request asks for -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Language.VI),
        ("", Language.VI),
        ("en", Language.EN),
        ("en-GB,en;q=0.9", Language.EN),
        ("vi-VN,vi;q=0.9,en;q=0.8", Language.VI),
        ("fr-FR,en;q=0.5,vi;q=0.4", Language.EN),
        ("fr", Language.VI),
        ("*", Language.VI),
        ("vi;q=0, en;q=0.1", Language.EN),
        ("en;q=abc", Language.VI),
    ],
)
def test_accept_language(header: str | None, expected: Language) -> None:
    assert accepted_language(header, Language.VI) is expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_accept_language_never_fails(header: str) -> None:
    assert accepted_language(header, Language.EN) in set(Language)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"type": "missing", "loc": ("body", "title")}, "request.field_missing"),
        ({"type": "extra_forbidden", "loc": ("body", "colour")}, "request.field_unknown"),
        ({"type": "int_parsing", "loc": ("path", "seat")}, "request.field_type"),
        (
            {"type": "string_too_long", "loc": ("body", "title"), "ctx": {"max_length": 9}},
            "request.field_too_long",
        ),
        (
            {"type": "greater_than_equal", "loc": ("body", "x"), "ctx": {"ge": 0}},
            "request.field_at_least",
        ),
        ({"type": "less_than", "loc": ("body", "x"), "ctx": {"lt": 5}}, "request.field_below"),
        (
            {"type": "enum", "loc": ("body", "mode"), "ctx": {"expected": "'a' or 'b'"}},
            "request.field_choice",
        ),
        ({"type": "json_invalid", "loc": ("body", 0)}, "request.body_not_json"),
        (
            {
                "type": "string_pattern_mismatch",
                "loc": ("body", "vote_id"),
                "ctx": {"pattern": "x"},
            },
            "request.field_pattern",
        ),
        (
            {"type": "value_error", "loc": ("body", "vote_id"), "msg": "bad"},
            "request.field_invalid",
        ),
    ],
)
def test_validation_errors_map_to_codes_with_their_parameters(
    error: dict[str, Any], code: str
) -> None:
    found, params = validation_refusal(error)
    assert found == code
    assert set(params) == set(REFUSALS[code].params)


# --- real refusals through a real daemon -------------------------------------------------------


async def _refused(
    client: httpx.AsyncClient, method: str, url: str, body: Any = None, **headers: str
) -> httpx.Response:
    response = await client.request(method, url, json=body, headers=headers)
    assert response.is_error, (method, url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    return response


def _check(response: httpx.Response, code: str, language: Language = Language.VI) -> dict[str, Any]:
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    assert response.status_code == problem["status"] == REFUSALS[code].status, problem
    assert not misfits(code, problem["params"]), (misfits(code, problem["params"]), problem)
    assert problem["detail"] == refusal_text(language, code, problem["params"]), problem
    assert response.headers["content-language"] == language.value
    if language is Language.VI:
        assert VIETNAMESE.search(problem["detail"].lower()), problem
    return problem


async def test_a_sample_of_real_refusals_reads_in_vietnamese(hall: Hall) -> None:
    async with (
        hall.client() as chair,
        hall.client(Role.TECHNICIAN) as tech,
        hall.client(None) as anonymous,
    ):
        # Before the sitting opens.
        _check(await _refused(chair, "POST", "/api/floor/next", {}), "sitting.not_open")
        _check(await _refused(anonymous, "GET", "/api/state"), "auth.token_missing")
        bad = httpx.AsyncClient(base_url=hall.url, headers={"Authorization": "Bearer nope"})
        async with bad:
            _check(await _refused(bad, "GET", "/api/state"), "auth.token_invalid")
        forbidden = _check(
            await _refused(tech, "POST", "/api/votes", {"title": "NQ"}), "auth.role_forbidden"
        )
        assert forbidden["params"]["role"] == "technician"
        assert "kỹ thuật viên" in forbidden["detail"]

        assert (await chair.post("/api/sitting/open", json=SITTING)).is_success
        _check(await _refused(chair, "POST", "/api/sitting/open", SITTING), "sitting.already_open")
        missing = _check(
            await _refused(chair, "POST", "/api/votes", {"vote_id": "v2"}), "request.field_missing"
        )
        assert missing["params"] == {"field": "title"}
        assert missing["errors"][0]["code"] == "request.field_missing"
        _check(
            await _refused(chair, "POST", "/api/votes", {"title": "NQ", "colour": "red"}),
            "request.field_unknown",
        )
        _check(await _refused(chair, "GET", "/api/no-such-thing"), "http.not_found")
        _check(await _refused(chair, "POST", "/api/votes/v9/open"), "vote.not_found")
        _check(await _refused(chair, "POST", "/api/floor/grant", {"seat": 999}), "seat.not_found")
        _check(await _refused(chair, "POST", "/api/floor/next", {}), "floor.nobody_waiting")
        _check(await _refused(chair, "POST", "/api/agenda/9/current"), "agenda.item_not_found")

        # A vote: no quorum yet, then present, open, closed, and refused in its state.
        assert (await chair.post("/api/votes", json={"vote_id": "v1", "title": "NQ"})).is_success
        quorum = _check(await _refused(chair, "POST", "/api/votes/v1/open"), "vote.no_quorum")
        assert quorum["params"]["present"] == 0
        await hall.feed(
            *(PresenceChanged(at=hall.clock.now(), seat=s, present=True) for s in range(1, 41))
        )
        assert (await chair.post("/api/votes/v1/open")).is_success
        _check(await _refused(chair, "POST", "/api/sitting/close"), "vote.active")
        assert (await chair.post("/api/votes/v1/close")).is_success
        state = _check(await _refused(chair, "POST", "/api/votes/v1/open"), "vote.wrong_state")
        assert state["params"] == {"vote": "v1", "state": "closed", "command": "open"}
        assert state["detail"] == (
            "Không thể mở biểu quyết v1: biểu quyết đang ở trạng thái “đã kết thúc”."
        )
        _check(
            await _refused(chair, "POST", "/api/votes", {"vote_id": "v1", "title": "NQ"}),
            "vote.exists",
        )

        # The same refusal in English when the request asks for it; Vietnamese when it
        # names no language we speak.
        english = await _refused(
            chair, "POST", "/api/votes/v1/open", **{"Accept-Language": "en-GB"}
        )
        assert _check(english, "vote.wrong_state", Language.EN)["detail"] == (
            "vote v1 is closed: cannot open it"
        )
        french = await _refused(chair, "POST", "/api/votes/v1/open", **{"Accept-Language": "fr"})
        _check(french, "vote.wrong_state")


async def test_the_catalogue_is_served_and_documented(hall: Hall) -> None:
    async with hall.client(Role.TECHNICIAN) as tech:
        served = (await tech.get("/api/refusals")).json()
        spec = (await tech.get("/openapi.json")).json()
    assert served == catalogue()
    assert set(served["codes"]) == set(REFUSALS)
    for code, entry in served["codes"].items():
        assert entry["text"]["vi"] == REFUSAL_TEXTS[Language.VI][code]
        assert entry["text"]["en"] == REFUSAL_TEXTS[Language.EN][code]
    assert spec["x-refusals"]["codes"] == served["codes"]
    assert "code" in spec["components"]["schemas"]["Problem"]["properties"]
    votes = spec["paths"]["/api/votes/{vote_id}/open"]["post"]["responses"]
    schema = votes["409"]["content"]["application/problem+json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Problem"}


def test_the_docs_table_holds_every_code() -> None:
    doc = (ROOT / "docs" / "refusals.md").read_text(encoding="utf-8")
    block = doc.partition(DOC_BEGIN)[2].partition(DOC_END)[0]
    assert block.strip() == refusals_markdown().strip(), (
        "docs/refusals.md is behind the table: "
        "python -m chamber.controller.api.refusals_doc docs/refusals.md"
    )
    for code in REFUSALS:
        assert f"| `{code}` |" in block, code
