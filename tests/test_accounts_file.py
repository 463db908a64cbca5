"""The token file round-trips accounts with Vietnamese names (property-based), in NFC."""

from __future__ import annotations

import tempfile
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.auth import Role, TokenStore, clean_name

# Vietnamese letters in both forms (precomposed and decomposed), spaces and ASCII.
LETTERS = (
    "aăâbdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯàảãáạằẳẵắặầẩẫấậềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
)
names = st.text(
    alphabet=st.sampled_from(LETTERS + unicodedata.normalize("NFD", LETTERS) + " -."),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(names, st.sampled_from(list(Role))), min_size=1, max_size=4))
def test_accounts_round_trip_through_the_file(people: list[tuple[str, Role]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.json"
        store = TokenStore(path=path)
        tokens = [store.add(name, role) for name, role in people]
        store.save()
        again = TokenStore.load(path)
        assert [(a.id, a.name, a.role) for a in again.accounts] == [
            (a.id, a.name, a.role) for a in store.accounts
        ]
        for (name, role), token in zip(people, tokens, strict=True):
            principal = again.lookup(token)
            assert principal is not None
            assert principal.name == clean_name(name)
            assert principal.name == unicodedata.normalize("NFC", principal.name)
            assert principal.role is role
        assert again.lookup(tokens[0] + "x") is None
