"""Email addresses: whether a text is one, its normal form, and its domain.

One module for them, because identity (people are matched by address), accounts (a company
is its email domain), hand-off routing (an account's owner is found by domain), the store
(which indexes each record's domain) and the model (``email_domain`` criteria) must agree: a
domain read two ways, ``bücher.de`` by one and ``xn--bcher-kva.de`` by another, matches
nobody. Pure functions of text, usable anywhere (the model included).
"""

from __future__ import annotations

import re
from functools import lru_cache

#: RFC 5321's limit on a whole address.
MAX_EMAIL_CHARS = 320

#: Free mailbox providers: a shared domain there says nothing about a shared employer.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "hotmail.com",
        "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "icloud.com",
        "me.com", "aol.com", "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru",
        "protonmail.com", "proton.me", "orange.fr", "free.fr", "laposte.net", "qq.com",
        "163.com",
    }
)  # fmt: skip

#: A host name once in ASCII: dot-separated labels of letters, digits and inner hyphens.
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,}$")


def normalize_email(email: object) -> str | None:
    """Lower-cased, trimmed address, or None when it cannot be an email address.

    This is the address people are matched by: changing what it accepts changes who is who,
    so it stays as lenient as it has been (it does not parse quoted local parts or judge the
    domain; ``email_domain`` does that).
    """
    if not isinstance(email, str):
        return None
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > MAX_EMAIL_CHARS:
        return None
    # Every whitespace character but the ASCII space is unprintable: one scan in C for both.
    if " " in value or not value.isprintable():
        return None
    return value


def email_domain(email: object) -> str | None:
    """The domain of an email address, in the one form LeadSync compares domains in.

    The domain follows the *last* "@" (a quoted local part may hold one: ``"a@b"@acme.com``).
    It is read with ``host_name``: lower case, no trailing dot, an international name in
    ASCII (punycode). None when the text has no "@", nothing before it, or no valid host name
    after it.
    """
    if not isinstance(email, str):
        return None
    local, at, host = email.strip().rpartition("@")
    if not at or not local:
        return None
    # Emails are unique per person, domains are not: the cache is on the host part.
    return host_name(host)


@lru_cache(maxsize=1 << 16)
def host_name(text: str) -> str | None:
    """``text`` as a host name: trimmed, lower case, without the root's trailing dot, in ASCII
    (IDNA: ``Bücher.de`` -> ``xn--bcher-kva.de``); None unless it is a dotted host name."""
    value = text.strip().lower()
    if value.endswith("."):
        value = value[:-1]  # the DNS root: "acme.com." is acme.com
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:  # an empty or over-long label, or a character IDNA forbids
        return None
    return value if _HOST.match(value) else None
