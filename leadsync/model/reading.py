"""Reading raw CRM values: text, numbers, domains and company names, never raising.

CRM data is dirty: employees arrive as ``"1,200"``, ``"approx 500"``, ``"201-500"`` or
``"lots"``; a picklist holds a number; names carry zero-width spaces or full-width letters.
Each reader returns a cleaned value, ``MISSING`` when there is nothing, or an ``Unreadable``
naming what could not be read, so the fit can say why a box stayed unchecked.

Readers cache by input string: the same industry, country and size values repeat across
millions of people, so caching is what keeps a full re-score inside its time budget.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from numbers import Real
from typing import Final

from leadsync.emails import email_domain, host_name

#: Longest text the model reads; beyond it a value is cut, so a pasted essay cannot slow
#: every regex down.
MAX_TEXT: Final = 512


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A present value the reader could not interpret; ``shown`` is safe to print."""

    shown: str


def shown(value: object, limit: int = 60) -> str:
    """A short, printable rendering of a raw value for explanations."""
    if type(value) is str and len(value) <= limit and value.isprintable():
        return f"'{value}'"
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # a hostile __repr__ must not break scoring
        text = f"<{type(value).__name__}>"
    text = "".join(ch if ch.isprintable() else " " for ch in text[: limit + 1])
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'" if isinstance(value, str) else text


# Format characters (zero-width spaces, joiners, BOM, bidi marks) carry no meaning in a CRM
# picklist but make "UK" and "U\u200bK" differ.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0x202A, 0x202C, 0x202E],
    None,
)
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1 << 16)
def _norm_cached(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).casefold()
    return _SPACES.sub(" ", text).strip()


def norm(text: str) -> str:
    """Case-, width- and whitespace-insensitive form of ``text`` for comparisons."""
    return _norm_cached(text[:MAX_TEXT])


def read_texts(value: object, split: bool = True) -> tuple[str, ...] | _Missing | Unreadable:
    """Normalised text values of a raw attribute.

    A list gives one value per item; with ``split`` a string is split on ``;`` (Salesforce
    multi-select picklists). Numbers become their decimal text (a picklist holding ``42``).
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        parts = value.split(";") if split and ";" in value else (value,)
        out = tuple(n for n in (norm(p) for p in parts) if n)
        return out if out else MISSING
    if isinstance(value, bool):
        return (str(value).lower(),)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, float):
        if not math.isfinite(value):
            return Unreadable(shown(value))
        return (str(int(value)) if value.is_integer() else repr(value),)
    if isinstance(value, (list, tuple, set, frozenset)):
        collected: list[str] = []
        for item in value:
            got = read_texts(item, split)
            if isinstance(got, tuple):
                collected.extend(got)
        return tuple(collected) if collected else MISSING
    return Unreadable(shown(value))


def read_text(value: object) -> str | _Missing | Unreadable:
    """One normalised text value (list values joined by spaces, no ``;`` split)."""
    got = read_texts(value, split=False)
    if isinstance(got, tuple):
        return " ".join(got)
    return got


# --- numbers -----------------------------------------------------------------------------

Interval = tuple[float, float]

_QUALIFIER = re.compile(
    r"^(approx(?:imately)?\.?|about|around|roughly|circa|ca\.?|est\.?|~|≈|"
    r"over|more than|greater than|above|at least|>=|>|"
    r"under|less than|fewer than|below|up to|<=|<)\s*"
)
_NUMBER = re.compile(r"[-+]?\d[\d,.' \u00a0\u202f]*")
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "mn": 1e6, "million": 1e6,
          "b": 1e9, "bn": 1e9, "billion": 1e9}  # fmt: skip
_CURRENCY = re.compile(r"^(?:[$€£¥]|usd|eur|gbp|chf|jpy|cad|aud)\s*|\s*(?:[$€£¥]|usd|eur|gbp)$")
_RANGE = re.compile(r"\s*(?:-|–|—|to)\s*")
_UPPER = ("over", "more than", "greater than", "above", "at least", ">=", ">")
_LOWER = ("under", "less than", "fewer than", "below", "up to", "<=", "<")


def read_number(value: object) -> Interval | _Missing | Unreadable:
    """A raw numeric attribute as an interval ``(low, high)``; exact numbers have low == high.

    Understands ``1,200``, ``1.2k``, ``$5M``, ``approx 500``, ``500+``, ``under 50`` and bands
    like ``201-500`` (which CRMs use for company size). Anything else is ``Unreadable``.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return Unreadable(shown(value))
    if isinstance(value, Real):
        number = float(value)
        return (number, number) if math.isfinite(number) else Unreadable(shown(value))
    if isinstance(value, str):
        if not value.strip():
            return MISSING
        if len(value) > 64:
            return Unreadable(shown(value))
        return _parse_number_text(value)
    return Unreadable(shown(value))


@lru_cache(maxsize=1 << 14)
def _parse_number_text(raw: str) -> Interval | Unreadable:
    text = norm(raw)
    qualifier = ""
    match = _QUALIFIER.match(text)
    if match:
        qualifier = match.group(1)
        text = text[match.end() :]
    text = _CURRENCY.sub("", text).strip()
    open_top = text.endswith("+")
    if open_top:
        text = text[:-1].strip()
    bounds = _RANGE.split(text, maxsplit=1) if not text.startswith("-") else [text]
    numbers = [_scalar(part) for part in bounds]
    if any(n is None for n in numbers):
        return Unreadable(shown(raw))
    low = numbers[0]
    high = numbers[-1]
    assert low is not None and high is not None  # narrowed above; keeps mypy honest
    if low > high:
        return Unreadable(shown(raw))
    if open_top or qualifier in _UPPER:
        return (low, math.inf)
    if qualifier in _LOWER:
        return (-math.inf, high)
    return (low, high)


def _scalar(text: str) -> float | None:
    match = _NUMBER.match(text)
    if not match:
        return None
    rest = text[match.end() :].strip().rstrip(".")
    scale = 1.0
    if rest:
        if rest not in _SCALE:
            return None
        scale = _SCALE[rest]
    digits = _decimal_text(match.group(0).strip())
    if digits is None:
        return None
    try:
        number = float(digits) * scale
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _decimal_text(text: str) -> str | None:
    """Normalise thousands and decimal separators to a Python float literal."""
    text = re.sub(r"['\s\u00a0\u202f]", "", text)
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        groups = text.split(",")
        if all(len(g) == 3 for g in groups[1:]):
            text = "".join(groups)
        elif len(groups) == 2:
            text = ".".join(groups)
        else:
            return None
    elif text.count(".") > 1:
        groups = text.split(".")
        if not all(len(g) == 3 for g in groups[1:]):
            return None
        text = "".join(groups)
    return text


# --- domains and company names ------------------------------------------------------------

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


@lru_cache(maxsize=1 << 16)
def domain_of(text: str) -> str | None:
    """The host of a URL or bare domain, lower-case, without ``www.``; of an email address,
    its ``email_domain`` (so an address reads the same here as everywhere else)."""
    value = norm(text)
    if "@" in value:
        if "/" not in value:
            return email_domain(value)
        value = value.rsplit("@", 1)[1]  # a URL's user: https://user@host/
    value = _SCHEME.sub("", value).split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    value = value.strip(". ")
    if value.startswith("www."):
        value = value[4:]
    return host_name(value)


_LEGAL_SUFFIX = re.compile(
    r"[\s,]+(?:inc|incorporated|corp|corporation|co|company|ltd|limited|llc|llp|lp|plc|gmbh|"
    r"ag|sa|sas|sarl|srl|spa|bv|nv|oy|ab|as|pty|kk|group|holdings?)\.?$"
)
_PUNCT = re.compile(r"[^\w\s&]+")


@lru_cache(maxsize=1 << 16)
def company_key(text: str) -> str:
    """A company name reduced for matching: no case, punctuation or legal-form suffix."""
    value = norm(text)
    for _ in range(3):  # "Acme Holdings Ltd." drops both
        stripped = _LEGAL_SUFFIX.sub("", value)
        if stripped == value or not stripped:
            break
        value = stripped
    return _SPACES.sub(" ", _PUNCT.sub(" ", value)).strip()
