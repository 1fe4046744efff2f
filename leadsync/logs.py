"""Logging setup: plain sentences on a terminal, JSON lines otherwise, never a secret.

Logs go to stderr so that ``--json`` output on stdout stays one clean document. Two guards
keep secrets out: values under secret-sounding keys are masked, and every secret the config
holds is registered here and masked wherever it appears in a log line's text.

On a terminal a person reads along: only warnings and errors by default (``-v`` adds info,
``-vv`` debug), each a sentence printed once, through the rich console that owns the
progress display when there is one (a line written past rich's live display leaves a stale
copy of every bar behind and tears the bar it lands in). Piped, every event is a JSON line
at info, as operators' log pipelines expect.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from datetime import date, datetime
from typing import Any

import structlog
from rich.console import Console
from rich.text import Text

MASK = "***"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|session[_-]?id|private[_-]?key|cookie)",
    re.IGNORECASE,
)
_registered: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these exact strings wherever they would appear in a log line."""
    for value in values:
        if value and len(value) >= 4:
            _registered.add(value)


def redact_text(text: str) -> str:
    for secret in sorted(_registered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (MASK if _SECRET_KEY.search(str(k)) and v else _redact(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """JSON-friendly scalars: datetimes as ISO text rather than their repr."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def redact_processor(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        if _SECRET_KEY.search(key) and value:
            event[key] = MASK
        else:
            event[key] = _redact(_plain(value))
    return event


def _current_stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # Resolve sys.stderr per logger, not once at configure time: whoever configured may have
    # had a temporary stream (a test runner, a redirected CLI) that is closed by now.
    return structlog.PrintLogger(file=sys.stderr)


#: The console that owns the live (progress) display, while there is one.
_display: Console | None = None
#: Where terminal log lines go otherwise (it looks sys.stderr up as it writes).
_stderr = Console(stderr=True)


def print_through(console: Console | None) -> Console | None:
    """Print terminal log lines through ``console`` (``None``: plain stderr); returns the
    previous one, to restore. Whoever starts a live display on a console registers it here,
    so log lines land above the display instead of inside it."""
    global _display
    previous, _display = _display, console
    return previous


_STYLES = {"warning": "yellow", "error": "bold red", "critical": "bold red"}


class TerminalLogger:
    """Prints each sentence through the display console of the moment (looked up per line:
    a logger bound before a display started must still print above it)."""

    def __init__(self, *_name: Any) -> None:
        """structlog's factories pass the logger's name; a sentence does not carry it."""

    def _print(self, style: str, sentence: str) -> None:
        console = _display if _display is not None else _stderr
        console.print(Text(sentence, style=style), soft_wrap=False, highlight=False)

    def debug(self, sentence: str) -> None:
        self._print("dim", sentence)

    def info(self, sentence: str) -> None:
        self._print("", sentence)

    def warning(self, sentence: str) -> None:
        self._print(_STYLES["warning"], sentence)

    def error(self, sentence: str) -> None:
        self._print(_STYLES["error"], sentence)

    msg = info
    critical = fatal = exception = error
    warn = warning


_NOT_DETAILS = ("event", "level", "timestamp", "exception", "exc_info", "stack")


def _worded(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"' if (" " in value or not value) else value
    if isinstance(value, (list, tuple)):
        return ", ".join(_worded(v) for v in value)
    return str(value)


def sentence(event: MutableMapping[str, Any]) -> str:
    """``sync.rejected`` with its values as ``Warning: sync rejected (connector salesforce,
    code X, message "...")``: the event name in words, then every non-empty value."""
    words = str(event.get("event", "")).replace(".", " ").replace("_", " ")
    details = ", ".join(
        f"{key.replace('_', ' ')} {_worded(value)}"
        for key, value in event.items()
        if key not in _NOT_DETAILS and value not in (None, "", [], (), {})
    )
    level = event.get("level", "info")
    text = f"{level.capitalize()}: {words}" if level in _STYLES else words
    if details:
        text += f" ({details})"
    if event.get("exception"):
        text += "\n" + str(event["exception"])
    return text


class OncePerEvent:
    """Terminal warnings: the first of each event is printed, its repeats are counted.

    A cycle that meets one validation rule on 300 leads says so once, and ``repeats`` how
    many more there were. With ``every`` (``-v``) each distinct warning is printed; errors
    always are. A word-for-word repeat never is."""

    def __init__(self, every: bool) -> None:
        self.every = every
        self.printed: set[str] = set()
        self.events: set[str] = set()
        self.held: dict[str, int] = {}
        #: Events held back for being alike, not word for word the same: -v would print them.
        self.differing: set[str] = set()

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if event.get("level") not in ("warning", "error", "critical"):
            return event
        said, name = sentence(event), str(event.get("event"))
        alike = not self.every and event["level"] == "warning" and name in self.events
        if said in self.printed or alike:
            self.held[name] = self.held.get(name, 0) + 1
            if said not in self.printed:
                self.differing.add(name)
            raise structlog.DropEvent
        self.printed.add(said)
        self.events.add(name)
        return event

    def repeats(self) -> list[str]:
        """One line per event held back, saying how often."""
        return [
            f'({n} more "{name.replace(".", " ").replace("_", " ")}" like it'
            + ("; -v prints each)" if name in self.differing else ")")
            for name, n in self.held.items()
        ]


_once: OncePerEvent | None = None


def say_repeats() -> None:
    """At the end of a command: how many warnings the terminal was spared, one line each."""
    if _once is not None:
        for line in _once.repeats():
            TerminalLogger().warning(line)
        _once.held.clear()
        _once.differing.clear()


def _render_sentence(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    return sentence(event)


def configure(*, json_lines: bool | None = None, level: str | None = None) -> None:
    """Configure structlog once at the edge (CLI, service).

    JSON lines (the default when stderr is not a terminal) are written from ``level`` up,
    info by default. On a terminal the default is warning: a person asks for more (``-v``)."""
    global _once, _stderr
    as_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    threshold = logging.getLevelNamesMapping()[
        (level or ("info" if as_json else "warning")).upper()
    ]
    if as_json:
        _once = None
        tail: list[Any] = [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            structlog.processors.JSONRenderer(),
        ]
        factory: Any = _current_stderr_logger
    else:
        _once = OncePerEvent(every=threshold < logging.WARNING)
        _stderr = Console(stderr=True)  # colours as the terminal of this moment supports
        tail = [structlog.processors.format_exc_info, redact_processor, _once, _render_sentence]
        factory = TerminalLogger
    _bridge_stdlib(threshold if as_json else None)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to the ``sys.stderr`` of the moment (see
    ``_current_stderr_logger``)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _bridge_stdlib(threshold: int | None) -> None:
    """Libraries that log through stdlib ``logging`` (APScheduler, uvicorn) write the same
    JSON lines as ours, so every stderr line parses: their warnings and errors, as stdlib
    alone would print them (their info is chatter: httpx logs every request), everything
    from ``threshold`` when that is debug (``-vv``). ``None`` (a terminal) removes the
    bridge and leaves them to stdlib's own warnings."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    if threshold is None:
        return
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root.addHandler(handler)
    root.setLevel(threshold if threshold <= logging.DEBUG else max(threshold, logging.WARNING))
