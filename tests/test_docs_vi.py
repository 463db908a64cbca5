"""The Vietnamese guides (docs/vi/) keep in step with the English ones (docs/).

- Same sections in the same order: every heading of a Vietnamese guide is preceded by
  `<a id="ANCHOR"></a>`, ANCHOR being the GitHub anchor of the English heading it stands for
  (so a link to `technician.md#tokens` works in both languages); the list of (level, anchor)
  of one guide is the list of the other's.
- The same commands, keys and hall-file keys: every code span of the English guide is a code
  span of the Vietnamese one, and every line of its code blocks is a line of the Vietnamese
  one's (comments, after `#`, may be translated).
- The same figures: every number of the English guide is in the Vietnamese one (its
  separators dropped: 86,400 and 86.400, 55.8 and 55,8 are one figure), so a paragraph of
  figures added to one guide is missed in the other.
- Vietnamese text in NFC; every relative link of a Vietnamese guide reaches a file, and an
  anchor that file has.

The comparison is a function (`differences`), also tried on a guide with one section more,
so the check is seen to fail when a section is added to one guide and not the other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAIRS = (
    (ROOT / "docs" / "operator.md", ROOT / "docs" / "vi" / "operator.md"),
    (ROOT / "docs" / "technician.md", ROOT / "docs" / "vi" / "technician.md"),
)
ANCHOR = re.compile(r'^<a id="([a-z0-9_-]+)"></a>$')
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Guide:
    # (level, anchor) of each heading in order; the anchor is the explicit one before it, or
    # the GitHub slug of its title when there is none.
    sections: tuple[tuple[int, str], ...]
    # Headings without an explicit anchor before them.
    unanchored: tuple[str, ...]
    spans: frozenset[str]
    code_lines: frozenset[str]
    anchors: frozenset[str]


def slug(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = title.strip().lower().replace("`", "")
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def _code_line(line: str) -> str:
    """A code block's line without its comment, whitespace collapsed ('' if only comment)."""
    stripped = line.strip()
    if stripped.startswith("#"):
        return ""
    cut = re.split(r"\s#\s", stripped, maxsplit=1)[0]
    return " ".join(cut.split())


def read(text: str) -> Guide:
    lines = text.splitlines()
    sections: list[tuple[int, str]] = []
    unanchored: list[str] = []
    prose: list[str] = []
    code: set[str] = set()
    fenced = False
    in_block = False
    previous = ""
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            previous = line
            continue
        indented = line.startswith("    ") and (in_block or not previous.strip())
        if fenced or indented:
            in_block = indented
            if found := _code_line(line):
                code.add(found)
            previous = line
            continue
        in_block = False
        if m := HEADING.match(line):
            explicit = ANCHOR.match(previous.strip())
            anchor = explicit.group(1) if explicit else slug(m.group(2))
            if not explicit:
                unanchored.append(m.group(2))
            sections.append((len(m.group(1)), anchor))
        prose.append(line)
        previous = line
    body = "\n".join(prose)
    spans = frozenset(" ".join(m.group(2).split()) for m in SPAN.finditer(body))
    anchors = frozenset(a for _, a in sections) | frozenset(
        m.group(1) for line in lines if (m := ANCHOR.match(line.strip()))
    )
    return Guide(tuple(sections), tuple(unanchored), spans, frozenset(code), anchors)


def figures(text: str) -> set[str]:
    """The numbers of a text, each written without its thousands or decimal separator."""
    return set(re.findall(r"\d+", re.sub(r"(?<=\d)[.,](?=\d)", "", text)))


def differences(english: str, vietnamese: str) -> list[str]:
    """What keeps the Vietnamese guide from being in step with the English one."""
    en, vi = read(english), read(vietnamese)
    problems = [f"Vietnamese heading without its English anchor: {t!r}" for t in vi.unanchored]
    if en.sections != vi.sections:
        for n, (a, b) in enumerate(zip(en.sections, vi.sections, strict=False)):
            if a != b:
                problems.append(f"section {n + 1}: English {a}, Vietnamese {b}")
                break
        if len(en.sections) != len(vi.sections):
            problems.append(
                f"{len(en.sections)} English sections, {len(vi.sections)} Vietnamese ones: "
                f"English only {sorted(set(en.sections) - set(vi.sections))}, "
                f"Vietnamese only {sorted(set(vi.sections) - set(en.sections))}"
            )
    problems += [f"code span missing: `{s}`" for s in sorted(en.spans - vi.spans)]
    problems += [f"code line missing: {s}" for s in sorted(en.code_lines - vi.code_lines)]
    missing = figures(english) - figures(vietnamese)
    problems += [f"figure missing: {n}" for n in sorted(missing, key=int)]
    return problems


@pytest.mark.parametrize(("english", "vietnamese"), PAIRS, ids=lambda p: p.name)
def test_the_vietnamese_guide_keeps_in_step(english: Path, vietnamese: Path) -> None:
    problems = differences(
        english.read_text(encoding="utf-8"), vietnamese.read_text(encoding="utf-8")
    )
    assert not problems, "\n".join(problems)


ENGLISH = """# A guide

## Running the daemon

    chamber run --config hall.toml   # the daemon

Press `F9`; the key `[hall] language`.

### Tokens

Text.
"""
VIETNAMESE = """<a id="a-guide"></a>
# Một hướng dẫn

<a id="running-the-daemon"></a>
## Chạy máy chủ

    chamber run --config hall.toml   # máy chủ

Bấm `F9`; khóa `[hall] language`.

<a id="tokens"></a>
### Mã truy cập

Nội dung.
"""
ADDED_EN = "\n## A new section\n\nRun `chamber new-thing`.\n"
ADDED_VI = '\n<a id="a-new-section"></a>\n## Một mục mới\n\nChạy `chamber new-thing`.\n'


def test_a_guide_in_step_passes_and_one_section_more_on_either_side_fails() -> None:
    assert differences(ENGLISH, VIETNAMESE) == []
    assert differences(ENGLISH + ADDED_EN, VIETNAMESE)  # added in English only
    assert differences(ENGLISH, VIETNAMESE + ADDED_VI)  # added in Vietnamese only
    assert differences(ENGLISH + ADDED_EN, VIETNAMESE + ADDED_VI) == []
    # A Vietnamese heading without its anchor, sections swapped, a command or key dropped.
    assert differences(ENGLISH, VIETNAMESE.replace('<a id="tokens"></a>\n', ""))
    swapped = VIETNAMESE.replace('id="tokens"', 'id="x"').replace(
        'id="running-the-daemon"', 'id="tokens"'
    )
    assert differences(ENGLISH, swapped.replace('id="x"', 'id="running-the-daemon"'))
    assert differences(ENGLISH, VIETNAMESE.replace("`F9`", "F9"))
    assert differences(ENGLISH, VIETNAMESE.replace("--config hall.toml", "--config x.toml"))
    # A sentence with a figure added to the English guide only.
    assert differences(ENGLISH + "\nA poll waits 35.2 ms.\n", VIETNAMESE) == ["figure missing: 352"]
    assert not differences(ENGLISH + "\nA poll waits 35.2 ms.\n", VIETNAMESE + "\nChờ 35,2 ms.\n")
    # The same on the real guides: a section added to the English one only is caught.
    for english, _ in PAIRS:
        text = english.read_text(encoding="utf-8")
        assert any("section" in p for p in differences(text + ADDED_EN, text))


@pytest.mark.parametrize("vietnamese", [vi for _, vi in PAIRS], ids=lambda p: p.name)
def test_the_vietnamese_guide_is_nfc_and_its_links_reach_their_anchors(vietnamese: Path) -> None:
    text = vietnamese.read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text)
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        path_part, _, anchor = target.partition("#")
        path = (vietnamese.parent / path_part).resolve() if path_part else vietnamese
        assert path.exists(), f"{vietnamese.name}: link to a missing file: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in read(path.read_text(encoding="utf-8")).anchors, (
                f"{vietnamese.name}: link to a missing anchor: {target}"
            )


def test_the_readme_links_both_languages() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for english, vietnamese in PAIRS:
        assert f"({english.relative_to(ROOT)})" in readme
        assert f"({vietnamese.relative_to(ROOT)})" in readme
