"""Logs never carry a secret: masked by key name and wherever a registered value appears."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import structlog

from leadsync import logs


def test_secrets_are_masked_by_key_and_by_value(capsys: pytest.CaptureFixture[str]) -> None:
    logs.register_secrets(["s3cr3t-client-value", None, "abc"])  # too-short values are ignored
    logs.configure(json_lines=True)
    log = structlog.get_logger("test")
    log.info(
        "auth.failed",
        client_secret="anything",
        access_token="tok-123",
        detail="server said: bad client s3cr3t-client-value",
        nested={"password": "pw", "url": "https://x/?q=s3cr3t-client-value"},
        when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        note="abc is fine",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["client_secret"] == line["access_token"] == logs.MASK
    assert line["detail"] == "server said: bad client ***"
    assert line["nested"] == {"password": logs.MASK, "url": "https://x/?q=***"}
    assert line["when"] == "2026-01-02T03:04:00+00:00"
    assert line["note"] == "abc is fine"
    assert "s3cr3t" not in json.dumps(line)


def test_redact_text_masks_longest_secret_first() -> None:
    logs.register_secrets(["token-1234", "token-1234-extended"])
    assert logs.redact_text("a token-1234-extended b token-1234") == "a *** b ***"


def test_logging_survives_the_stream_it_was_configured_with_being_closed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CLI run under a test runner (or any redirect) configures logging while sys.stderr is a
    # temporary stream; once that is closed, later log lines go to the stderr of the moment.
    import io

    temporary = io.StringIO()
    monkeypatch.setattr("sys.stderr", temporary)
    logs.configure(json_lines=True)
    monkeypatch.undo()
    temporary.close()
    structlog.get_logger("test").info("after.redirect", n=1)
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["event"] == "after.redirect"
