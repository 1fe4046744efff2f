"""Email addresses: what makes one (and the one-pass check for hidden characters), and the
one reading of its domain that the store, routing, accounts and the model share."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.emails import email_domain, host_name, normalize_email
from leadsync.handoff.facts import person_facts
from leadsync.model.reading import domain_of, norm


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


# --- the domain: one reading of an address's domain, whoever asks -------------------------

_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
#: Valid ASCII host names: two to four labels, the last at least two characters.
HOSTS = st.builds(
    lambda labels, top: ".".join([*labels, top]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
#: Local parts, hostile ones included: dots, plus tags, an "@" in a quoted part, Unicode.
LOCALS = st.one_of(
    st.from_regex(r"[A-Za-z0-9._%+-]{1,30}", fullmatch=True),
    st.builds(lambda a, b: f'"{a}@{b}"', st.text(min_size=1, max_size=8), st.text(max_size=8)),
    st.text(min_size=1, max_size=20).filter(lambda s: s.strip() != ""),
)
SPACE = st.sampled_from(["", " ", "\t", "\n", "  \u00a0"])


@given(LOCALS, HOSTS, SPACE, SPACE)
def test_the_domain_follows_the_last_at_and_ignores_case_space_and_the_root_dot(
    local: str, host: str, before: str, after: str
) -> None:
    assert email_domain(f"{before}{local}@{host}{after}") == host
    assert email_domain(f"{local}@{host.upper()}") == host
    assert email_domain(f"{local}@{host}.") == host


@given(HOSTS)
def test_several_ats_read_the_last(host: str) -> None:
    """A quoted local part may hold an "@": the domain is what follows the last one."""
    assert email_domain(f"a@b@{host}") == host
    assert email_domain(f'"a@b"@{host}') == host
    assert email_domain(f"a@{host}@") is None


@given(st.text(max_size=40).filter(lambda s: "@" not in s))
def test_no_at_no_domain(text: str) -> None:
    assert email_domain(text) is None
    assert email_domain(f"@{text}") is None  # nothing before the "@"


@given(
    LOCALS,
    st.text(st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1, max_size=15),
    HOSTS,
)
def test_an_international_domain_reads_as_its_punycode(local: str, label: str, host: str) -> None:
    name = f"{label}.{host}"
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:  # IDNA forbids it: not a host name
        assert email_domain(f"{local}@{name}") is None
        return
    got = email_domain(f"{local}@{name}")
    assert got == email_domain(f"{local}@{ascii_name}")
    assert got is None or (got.isascii() and got == host_name(got))


@given(st.text(max_size=60))
def test_any_text_gives_a_canonical_ascii_host_or_none(text: str) -> None:
    for candidate in (text, f"{text}@acme.com", f"x@{text}", f"x@{text}.io"):
        got = email_domain(candidate)
        assert got is None or (got.isascii() and got == got.lower() and host_name(got) == got)


@given(st.one_of(st.builds(lambda lo, h: f"{lo}@{h}", LOCALS, HOSTS), st.text(max_size=40)))
def test_normalising_an_address_keeps_its_domain(email: str) -> None:
    """The store indexes the domain of ``email_norm``; routing reads the raw address."""
    normal = normalize_email(email)
    if normal is not None:
        assert email_domain(normal) == email_domain(email)


@given(st.one_of(st.builds(lambda lo, h: f"{lo}@{h}", LOCALS, HOSTS), st.text(max_size=40)))
def test_the_model_and_routing_read_an_address_as_email_domain_does(email: str) -> None:
    facts = person_facts({}, email=email)
    assert facts.email_domain == email_domain(email)
    if "@" in norm(email) and "/" not in norm(email):
        assert domain_of(email) == email_domain(norm(email))
