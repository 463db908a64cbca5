"""Vietnamese text typed in a legacy 8-bit encoding (TCVN3/ABC, VNI), recognised in Unicode text.

Before Unicode, Vietnamese offices typed with fonts that draw Vietnamese letters in the places
of Latin-1 characters: the ABC fonts (".VnTime", the TCVN 5712:1993 VN3 code table) and the VNI
fonts ("VNI-Times"). A spreadsheet typed with them still holds those Latin-1 characters: read as
Unicode, "Nguyễn Văn A" typed in TCVN3 is "NguyÔn V¨n A", and typed in VNI "Nguyeãn Vaên A".
Such text must not enter a hall file: the wall, the minutes and every export would print it so.

`legacy_encoding(text)` says whether a text looks like either encoding: the text changes when
read back through the encoding's table, every word it changes becomes a well-formed Vietnamese
syllable, and at least one of those words was not one before (a correctly written Vietnamese
name is never flagged). `decode` gives what the text would read as, for the error message.

The tables, from published sources:

- TCVN3 (ABC): TCVN 5712:1993, code table VN3, as given by GNU libc's TCVN5712-1 charmap for
  bytes 0xA1-0xFE; only the 74 positions that the ABC fonts use (Ă Â Ê Ô Ơ Ư Đ and the 67 lower-
  case letters), which agree with the TCVN3 table of the `vietnamese-conversion` converter
  (github.com/duydev/vietnamese-conversion, src/charsets.ts). The ABC capital fonts (".VnTimeH")
  draw the same codes as capitals, so one table serves both.
- VNI Windows: a base letter followed by a mark character (tone, or shape and tone), and seven
  letters of one character; the table of VNI Software's VNI-Times fonts as given in xvnkb's
  `vni.h` (Dao Hai Lam, 2002) and in `vietnamese-conversion`'s src/charsets.ts, which agree.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class LegacyEncoding(StrEnum):
    TCVN3 = "TCVN3 (ABC)"
    VNI = "VNI"


# TCVN3: (first byte, the Unicode letters of that byte and the next ones).
_TCVN3_RUNS = (
    (0xA1, "ĂÂÊÔƠƯĐăâêôơưđ"),
    (0xB5, "àảãáạ"),
    (0xBB, "ằẳẵắ"),
    (0xC6, "ặầẩẫấậè"),
    (0xCE, "ẻẽéẹềểễếệìỉ"),
    (0xDC, "ĩíịò"),
    (0xE1, "ỏõóọồổỗốộờởỡớợù"),
    (0xF1, "ủũúụừửữứựỳỷỹýỵ"),
)
TCVN3: dict[str, str] = {
    chr(first + i): letter for first, letters in _TCVN3_RUNS for i, letter in enumerate(letters)
}

# VNI: each base with its marks in the order none, sắc, huyền, hỏi, ngã, nặng (xvnkb's order):
# (base as typed, the mark characters after it, the Unicode letters).
_VNI_MARKS = "ùøûõï"  # sắc, huyền, hỏi, ngã, nặng after a plain vowel
_VNI_ROWS = (
    ("a", _VNI_MARKS, "áàảãạ"),
    ("a", "âáàåãä", "âấầẩẫậ"),  # circumflex, then with each tone
    ("a", "êéèúüë", "ăắằẳẵặ"),  # breve, then with each tone
    ("e", _VNI_MARKS, "éèẻẽẹ"),
    ("e", "âáàåãä", "êếềểễệ"),
    ("o", _VNI_MARKS, "óòỏõọ"),
    ("o", "âáàåãä", "ôốồổỗộ"),
    ("ô", _VNI_MARKS, "ớờởỡợ"),  # "ô" alone is ơ
    ("u", _VNI_MARKS, "úùủũụ"),
    ("ö", _VNI_MARKS, "ứừửữự"),  # "ö" alone is ư
    ("y", "ùøûõ", "ýỳỷỹ"),  # ỵ is one character, below
)
_VNI_SINGLE = {"ô": "ơ", "ö": "ư", "ñ": "đ", "í": "í", "ì": "ì", "æ": "ỉ", "ó": "ĩ", "ò": "ị"}
_VNI_SINGLE |= {"î": "ỵ"}


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for base, marks, letters in _VNI_ROWS:
        for mark, letter in zip(marks, letters, strict=True):
            table[base + mark] = letter
            table[base.upper() + mark.upper()] = letter.upper()
    for code, letter in _VNI_SINGLE.items():
        table[code] = letter
        table[code.upper()] = letter.upper()
    # "í" and "ì" are themselves; only their capitals' table entries matter for decoding.
    return {code: letter for code, letter in table.items() if code != letter}


VNI: dict[str, str] = _vni_table()
_VNI_CODE = re.compile("|".join(sorted(map(re.escape, VNI), key=len, reverse=True)))


def decode(text: str, encoding: LegacyEncoding) -> str:
    """`text` read back through the encoding's table (characters it does not use unchanged)."""
    if encoding is LegacyEncoding.TCVN3:
        return "".join(TCVN3.get(c, c) for c in text)
    return _VNI_CODE.sub(lambda m: VNI[m.group(0)], text)


# --- what a Vietnamese syllable looks like ------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_INITIALS = _words("ngh ng gh gi kh nh ph th tr ch qu b c d đ g h k l m n p r s t v x f j w z")
_NUCLEI = _words(
    "a ă â e ê i o ô ơ u ư y "
    "ai ao au ay âu ây eo êu ia iê iu oa oă oe oi oo ôi ơi ơu ua uâ uê ui uô uơ uy ưa ưi ươ ưu yê "
    "iêu oai oao oay oeo uây uôi uya uyê uyu ươi ươu yêu"
)
_FINALS = _words("ch nh ng c m n p t")


def _alternation(items: list[str]) -> str:
    return "|".join(sorted(items, key=len, reverse=True))


_SYLLABLE = re.compile(
    f"(?:{_alternation(_INITIALS)})?(?:{_alternation(_NUCLEI)})(?:{_alternation(_FINALS)})?"
)
_VOWELS = set("aăâeêioôơuưy")
_WORD_BREAK = re.compile(r"[\s,.;:()\[\]/\\\"'!?&+*=_\-–]+")


def syllable(word: str) -> bool:
    """Whether `word` is a well-formed Vietnamese syllable (any case, at most one tone)."""
    parts = unicodedata.normalize("NFD", word.lower())
    tones = sum(1 for c in parts if c in _TONES)
    toneless = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
    return tones <= 1 and _SYLLABLE.fullmatch(toneless) is not None


def _plain_word(word: str) -> bool:
    """A word of a correctly written text: a syllable, a number, or an abbreviation in plain
    letters without a vowel ("HĐND", "TP")."""
    toneless = unicodedata.normalize("NFC", word.lower())
    if not any(c in _VOWELS for c in toneless) and all(
        (c.isascii() and c.isalnum()) or c == "đ" for c in toneless
    ):
        return True
    return syllable(word)


def legacy_encoding(text: str) -> LegacyEncoding | None:
    """The legacy encoding `text` (NFC) looks typed in, or None."""
    if text.isascii():
        return None
    words = [w for w in _WORD_BREAK.split(text) if w]
    for encoding in (LegacyEncoding.VNI, LegacyEncoding.TCVN3):
        changed = [w for w in words if decode(w, encoding) != w]
        if (
            changed
            and all(_plain_word(decode(w, encoding)) for w in changed)
            and any(not _plain_word(w) for w in changed)
        ):
            return encoding
    return None
