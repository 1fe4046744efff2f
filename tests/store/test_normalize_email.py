"""Email normalisation: what makes an address, and the one-pass check for hidden characters."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.store.identity import normalize_email


def _per_character(email: object) -> str | None:
    """The earlier definition, one character at a time: the reference the fast check keeps."""
    if not isinstance(email, str):
        return None
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > 320:
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    return value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ana.Lopez@Acme.COM ", "ana.lopez@acme.com"),
        ("zoë@exämple.de", "zoë@exämple.de"),
        ("ana lopez@acme.com", None),
        ("ana\u00a0lopez@acme.com", None),  # no-break space
        ("ana\u200blopez@acme.com", None),  # zero-width space (unprintable, not whitespace)
        ("ana@acme", None),
        ("@acme.com", None),
        (None, None),
        (42, None),
    ],
)
def test_addresses(raw: object, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_every_character_is_judged_as_before() -> None:
    """Each code point, inside an otherwise valid address."""
    for code in range(sys.maxunicode + 1):
        email = f"a{chr(code)}b@acme.com"
        assert normalize_email(email) == _per_character(email), hex(code)


@given(st.text(max_size=40))
def test_any_text_is_judged_as_before(text: str) -> None:
    for email in (text, f"{text}@acme.com", f"x@{text}.io"):
        assert normalize_email(email) == _per_character(email)
