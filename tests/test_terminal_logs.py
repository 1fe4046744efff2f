"""Log lines on a terminal: sentences through the display's console, each warning once."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from leadsync import logs

names = st.from_regex(r"[a-z]{2,8}(\.[a-z]{2,8}){0,2}(_[a-z]{2,6})?", fullmatch=True)
values = st.one_of(st.integers(-5, 10_000), st.text("abc xyz:-", min_size=1, max_size=20))
keys = st.from_regex(r"[a-z]{1,8}(_[a-z]{1,5})?", fullmatch=True).filter(
    lambda key: key not in ("event", "level", "timestamp", "exception", "exc_info", "stack")
)
fields = st.dictionaries(keys, values, max_size=4)


def terminal(level: str | None = None) -> io.StringIO:
    """Configure logging as on a terminal, printing through a console over a buffer."""
    logs.configure(json_lines=False, level=level)
    out = io.StringIO()
    logs.print_through(Console(file=out, width=10_000, color_system=None))
    return out


@settings(max_examples=60, deadline=None)
@given(event=names, detail=fields, repeats=st.integers(1, 6), others=st.lists(fields, max_size=4))
def test_a_warning_is_one_sentence_said_once(
    event: str, detail: dict[str, object], repeats: int, others: list[dict[str, object]]
) -> None:
    out = terminal()
    try:
        log = structlog.get_logger("t")
        log.info("chatter.stays_out", n=1)
        for extra in [detail] * repeats + others:
            log.warning(event, **extra)
        logs.say_repeats()
    finally:
        logs.print_through(None)
    lines = out.getvalue().splitlines()
    words = event.replace(".", " ").replace("_", " ")
    assert lines[0].startswith(f"Warning: {words}")
    assert all(str(v) in lines[0] for v in detail.values())
    held = repeats + len(others) - 1
    # Alike but not word for word the same (other values, or their order): -v shows those.
    differing = any(list(other.items()) != list(detail.items()) for other in others)
    summary = f'({held} more "{words}" like it' + ("; -v prints each)" if differing else ")")
    assert lines[1:] == ([summary] if held else [])
    assert not any("chatter" in line for line in lines)


def test_verbose_prints_info_and_every_distinct_warning_and_error() -> None:
    out = terminal("info")
    try:
        log = structlog.get_logger("t")
        log.info("sync.pulled", connector="salesforce", inserted=3)
        for record in ("a", "b", "a"):
            log.warning("sync.rejected", record=record, message="legal hold")
        logs.say_repeats()
        logs.configure(json_lines=False)  # errors are never held back as alike, even without -v
        for connector in ("salesforce", "hubspot", "hubspot"):
            log.error("sync.connector_failed", connector=connector)
        logs.say_repeats()
    finally:
        logs.print_through(None)
    assert out.getvalue().splitlines() == [
        "sync pulled (connector salesforce, inserted 3)",
        'Warning: sync rejected (record a, message "legal hold")',
        'Warning: sync rejected (record b, message "legal hold")',
        '(1 more "sync rejected" like it)',
        "Error: sync connector failed (connector salesforce)",
        "Error: sync connector failed (connector hubspot)",
        '(1 more "sync connector failed" like it)',
    ]


def test_piped_logs_stay_json_lines_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure()  # stderr is captured: not a terminal
    structlog.get_logger("t").info("sync.pulled", inserted=3)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "sync.pulled" and line["level"] == "info" and "timestamp" in line
