"""The daemon's refusals, worded in the console's language from their `code` and `params`.

The daemon serves its catalogue at GET /api/refusals (every code with its parameters and its
sentence in Vietnamese and English, and the words a word-typed parameter stands for: a vote's
state, a speaker list ...). The client fetches it once and `Catalogue.render` fills a refusal's
sentence in whichever language the console shows. Rendering never fails: a parameter that is
missing shows as "?", and a code the catalogue does not hold (a daemon newer than the
catalogue, or one that serves none) gives a generic sentence with the code. The console's own
refusals (`LOCAL`: an answer that does not fit) are worded here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chamber.console.i18n import Lang

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

# The sentence for a code nobody here knows, whatever the daemon serves.
GENERIC: Mapping[Lang, str] = {
    Lang.VI: "Bộ điều khiển từ chối lệnh (mã {code}).",
    Lang.EN: "The controller refused the command (code {code}).",
}


# Refusals of the console itself: a daemon's answer that does not fit what was asked.
LOCAL: Mapping[str, Mapping[Lang, str]] = {
    "console.no_vote_id": {
        Lang.VI: "Bộ điều khiển không cho biết mã của biểu quyết mới.",
        Lang.EN: "the daemon did not name the new vote",
    },
    "console.not_json": {
        Lang.VI: "Bộ điều khiển không trả lời bằng JSON.",
        Lang.EN: "the daemon did not answer JSON",
    },
    # An error answer that names no refusal (a proxy, a daemon older than the codes).
    "console.http_error": {
        Lang.VI: "Bộ điều khiển trả lời lỗi HTTP {status}: {detail}",
        Lang.EN: "the daemon answered HTTP {status}: {detail}",
    },
}


def _value_text(lang: Lang, kind: str | None, value: Any, words: Mapping[str, Any]) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = f"{value:g}"
        return text.replace(".", ",") if lang is Lang.VI else text
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(lang, kind, v, words) for v in value)
    text = str(value)
    if kind is None:
        return text
    if kind == "roles":
        roles = _words(words, "role", lang)
        return ", ".join(roles.get(r.strip(), r.strip()) for r in text.split(","))
    return _words(words, kind, lang).get(text, text)


def _words(words: Mapping[str, Any], kind: str, lang: Lang) -> Mapping[str, str]:
    table = words.get(kind)
    if not isinstance(table, Mapping):
        return {}
    found = table.get(lang.value)
    return found if isinstance(found, Mapping) else {}


@dataclass(frozen=True)
class Catalogue:
    """The refusal codes a daemon serves: code -> {"params": {name: type}, "text": {lang: …}}."""

    codes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    words: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Catalogue:
        """The catalogue of GET /api/refusals; whatever does not fit is left out."""
        if not isinstance(data, Mapping):
            return cls()
        codes = data.get("codes")
        words = data.get("words")
        return cls(
            {str(c): e for c, e in codes.items() if isinstance(e, Mapping)}
            if isinstance(codes, Mapping)
            else {},
            words if isinstance(words, Mapping) else {},
        )

    def knows(self, code: str) -> bool:
        return self._template(code, Lang.VI) is not None

    def _template(self, code: str, lang: Lang) -> str | None:
        entry = self.codes.get(code)
        if entry is None:
            return None
        texts = entry.get("text")
        text = texts.get(lang.value) if isinstance(texts, Mapping) else None
        return text if isinstance(text, str) and text else None

    def _local(self, code: str, params: Mapping[str, Any], lang: Lang) -> str | None:
        template = LOCAL.get(code, {}).get(lang)
        if template is None:
            return None
        return _PLACEHOLDER.sub(
            lambda m: _value_text(lang, None, params.get(m.group(1), "?"), {}), template
        )

    def render(self, code: str, params: Mapping[str, Any] | None, lang: Lang) -> str:
        """The refusal's sentence in `lang`; never raises."""
        try:
            return self._render(code, params or {}, lang)
        except Exception:  # a catalogue or parameters of a shape nobody foresaw
            return GENERIC[lang].replace("{code}", str(code))

    def _render(self, code: str, params: Mapping[str, Any], lang: Lang) -> str:
        template = self._template(code, lang)
        if template is None:
            local = self._local(code, params, lang)
            return local if local is not None else GENERIC[lang].replace("{code}", str(code))
        entry = self.codes[code]
        declared = entry.get("params")
        types: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in params:
                return "?"
            kind = types.get(name)
            named = kind if isinstance(kind, str) else None
            return _value_text(lang, named, params[name], self.words)

        return _PLACEHOLDER.sub(fill, template)
