"""Hostile values for every kind of mapped field, shared by the pull fuzz tests.

What a CRM field can hold when it is not what the mapping expects: garbage and out-of-range
dates, numbers that are not numbers, booleans that are not booleans, lists and objects where
one value belongs, NUL and control characters, and a megabyte of text.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MEGABYTE = "x" * 1_000_000
BIG_VALUES = (MEGABYTE, "9" * 5_000, "\x00" * 2_000, "é" * 300_000, "<b>" * 50_000)

garbage_dates = st.sampled_from(
    [
        "2024-13-45T99:99:99Z",
        "yesterday",
        "0000-00-00",
        "2024-02-30",
        "99999-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2024-03-05T10:11:12+99:00",
        "1e400",
        "-99999999999999999999",
        "99999999999999999999",
        "253402300800000",
        " ",
        "NaN",
        "2024-03-05T10:11:12.000+0000\x00",
    ]
)
number_like = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["NaN", "inf", "-inf", "1,200", "1e999", "0x10", "12abc", "", "-0"])
)
boolean_like = st.booleans() | st.sampled_from(["yes", "no", "2", "TRUE", "False", 2, -1, 0, 1])
control_text = st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=30)
id_like = st.sampled_from(["", "\x00", "00Q\x00abc", "a b", "../../etc", "🙂" * 5, "1" * 300])
email_like = st.sampled_from(
    ["not-an-email", "a@b", "@x.com", "a@@b.com", "a b@c.com", "a@b.com\x00", "x" * 400 + "@y.com"]
)
scalar = (
    st.none()
    | st.text(max_size=40)
    | control_text
    | garbage_dates
    | number_like
    | boolean_like
    | id_like
    | email_like
    | st.sampled_from(BIG_VALUES)
)
hostile: st.SearchStrategy[Any] = (
    scalar | st.lists(scalar, max_size=3) | st.dictionaries(st.text(max_size=5), scalar, max_size=3)
)
#: What a Bulk API CSV cell or a HubSpot property can hold: text only.
hostile_text: st.SearchStrategy[str] = (
    st.text(max_size=40)
    | control_text
    | garbage_dates
    | id_like
    | email_like
    | st.sampled_from(BIG_VALUES)
    | number_like.map(str)
    | boolean_like.map(lambda v: str(v).lower() if isinstance(v, bool) else str(v))
)


def empty(value: Any) -> bool:
    return value is None or value == ""
