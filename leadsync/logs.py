"""Logging setup: readable on a terminal, JSON lines otherwise, never a secret.

Logs go to stderr so that ``--json`` output on stdout stays one clean document. Two guards
keep secrets out: values under secret-sounding keys are masked, and every secret the config
holds is registered here and masked wherever it appears in a log line's text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from datetime import date, datetime
from typing import Any

import structlog

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


def configure(*, json_lines: bool | None = None, level: str = "info") -> None:
    """Configure structlog once at the edge (CLI, service)."""
    as_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_current_stderr_logger,
        cache_logger_on_first_use=False,
    )
