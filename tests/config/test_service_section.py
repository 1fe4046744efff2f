"""``[service]``: a webhook path that would take over a page or probe is refused, and so is a
host list entry the service could not match (ports, schemes, paths, bare ``*`` without a
token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from leadsync.config import load_settings
from leadsync.errors import ConfigError
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.state import CycleLog
from leadsync.store import Store

TOKEN = "t" * 40
FIXTURE = HealthCheck.function_scoped_fixture


def _load(tmp_path: Path, service: dict[str, Any]) -> Any:
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps({"service": service}), encoding="utf-8")
    path.chmod(0o600)
    return load_settings(path, environ={"LEADSYNC_TOKEN": TOKEN})


def _problems(tmp_path: Path, service: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, service)
    return info.value.problems


def _app_paths(tmp_path: Path) -> list[str]:
    """Every path the service app routes besides the webhook, read from the app itself."""
    store = Store(f"sqlite:///{tmp_path / 'paths.db'}")
    try:
        app = build_app(
            ServiceParts(
                store=store,
                connectors=["hubspot"],
                interval=timedelta(minutes=5),
                cycles=CycleLog(started_at=datetime.now(UTC)),
                metrics=ServiceMetrics({}),
            )
        )
    finally:
        store.close()
    while not hasattr(app, "routes"):
        app = app._app  # type: ignore[attr-defined]  # unwrap the guards around the router
    return [r.path for r in app.routes if isinstance(r, (Route, Mount))]


def test_every_routed_path_is_refused_as_the_webhook_path(tmp_path: Path) -> None:
    paths = _app_paths(tmp_path)
    assert {"/", "/healthz", "/readyz", "/metrics", "/login", "/static"} <= set(paths)
    for path in paths:
        for given_path in {path, path + "/"}:
            (line,) = _problems(tmp_path, {"webhook_path": given_path})
            assert line.startswith(f"{tmp_path / 'leadsync.toml'}: service.webhook_path: ")
            assert "/healthz" in line and "/metrics" in line  # it lists the taken paths


@settings(max_examples=40, deadline=None, suppress_health_check=[FIXTURE])
@given(rest=st.from_regex(r"[a-z0-9_.~-]{1,12}", fullmatch=True))
def test_paths_under_the_stylesheets_are_refused(tmp_path: Path, rest: str) -> None:
    (line,) = _problems(tmp_path, {"webhook_path": f"/static/{rest}"})
    assert "service.webhook_path" in line and "/static" in line


@pytest.mark.parametrize(
    "bad", ["/hooks?x=1", "/hooks#a", "/a b", "/%2e%2e/metrics", "/hooks/../metrics", "//x"]
)
def test_a_webhook_path_must_be_a_plain_path(tmp_path: Path, bad: str) -> None:
    (line,) = _problems(tmp_path, {"webhook_path": bad})
    assert "service.webhook_path" in line


def test_a_free_webhook_path_loads(tmp_path: Path) -> None:
    assert _load(tmp_path, {"webhook_path": "/hooks/hubspot/"}).service.webhook_path == (
        "/hooks/hubspot"
    )


def test_allowed_hosts_are_normalised(tmp_path: Path) -> None:
    service = _load(
        tmp_path,
        {
            "host": "0.0.0.0",
            "access_token": "${LEADSYNC_TOKEN}",
            "allowed_hosts": ["LeadSync.Example.com", "*.corp.example", "10.0.0.7", "fd00::7"],
        },
    ).service
    assert service.allowed_hosts == (
        "leadsync.example.com",
        "*.corp.example",
        "10.0.0.7",
        "[fd00::7]",
    )


@pytest.mark.parametrize(
    "bad",
    [
        "https://leadsync.example.com",
        "leadsync.example.com:8080",
        "leadsync.example.com/dash",
        "lead sync.example.com",
        "*example.com",
        "a.*.example.com",
        "",
    ],
)
def test_an_allowed_host_the_service_cannot_match_is_refused(tmp_path: Path, bad: str) -> None:
    (line,) = _problems(
        tmp_path,
        {"host": "0.0.0.0", "access_token": "${LEADSYNC_TOKEN}", "allowed_hosts": [bad]},
    )
    assert "service.allowed_hosts" in line and "host name" in line


def test_any_host_needs_the_token(tmp_path: Path) -> None:
    (line,) = _problems(tmp_path, {"allowed_hosts": ["*"]})
    assert "service.allowed_hosts" in line and "access_token" in line
    loaded = _load(tmp_path, {"access_token": "${LEADSYNC_TOKEN}", "allowed_hosts": ["*"]})
    assert loaded.service.allowed_hosts == ("*",)
